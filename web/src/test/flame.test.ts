import { describe, expect, it } from 'vitest';
import type { FlameNode } from '../api';
import { isKernel, maxDepth, topFunctions } from '../flamedata';

// all(10) -> prog(10) -> main(10) -> {hot(7) -> hot(3, recursion), read_[k](2)}
const tree: FlameNode = {
  name: 'all',
  value: 10,
  base: 5,
  children: [
    {
      name: 'prog',
      value: 10,
      base: 5,
      children: [
        {
          name: 'main',
          value: 10,
          base: 5,
          children: [
            { name: 'hot', value: 7, base: 1, children: [{ name: 'hot', value: 3, base: 0 }] },
            { name: 'read_[k]', value: 2, base: 4 },
          ],
        },
      ],
    },
  ],
};

describe('flame graph data', () => {
  it('sums self and total per function, counting recursion once', () => {
    const rows = Object.fromEntries(topFunctions(tree).map((r) => [r.name, r]));
    expect(rows.hot).toMatchObject({ self: 7, total: 7, baseSelf: 1 });
    expect(rows['read_[k]']).toMatchObject({ self: 2, total: 2, baseSelf: 4 });
    expect(rows.main).toMatchObject({ self: 1, total: 10, baseSelf: 0 });
    expect(rows.all).toBeUndefined();
    expect(topFunctions(tree)[0].name).toBe('hot');
  });
  it('measures depth and tells kernel frames', () => {
    expect(maxDepth(tree)).toBe(5);
    expect(isKernel('read_[k]')).toBe(true);
    expect(isKernel('main.read')).toBe(false);
  });
});
