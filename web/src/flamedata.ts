import type { FlameNode } from './api';

export function isKernel(name: string): boolean {
  return name.endsWith('_[k]') || name.endsWith('[k]') || name.startsWith('[kernel');
}

export function maxDepth(n: FlameNode): number {
  let d = 0;
  for (const c of n.children ?? []) d = Math.max(d, maxDepth(c));
  return d + 1;
}

export interface FuncRow {
  name: string;
  self: number;
  total: number;
  baseSelf: number;
}

// topFunctions sums self and total time per function name over the tree
// (total counts a function once per stack, however deep it recurses).
export function topFunctions(root: FlameNode): FuncRow[] {
  const m = new Map<string, FuncRow>();
  const row = (name: string) => {
    let r = m.get(name);
    if (!r) m.set(name, (r = { name, self: 0, total: 0, baseSelf: 0 }));
    return r;
  };
  const onPath = new Map<string, number>();
  const walk = (n: FlameNode) => {
    const kids = n.children ?? [];
    const self = n.value - kids.reduce((a, c) => a + c.value, 0);
    const bself = (n.base ?? 0) - kids.reduce((a, c) => a + (c.base ?? 0), 0);
    const r = row(n.name);
    r.self += Math.max(0, self);
    r.baseSelf += Math.max(0, bself);
    if (!onPath.get(n.name)) r.total += n.value;
    onPath.set(n.name, (onPath.get(n.name) ?? 0) + 1);
    kids.forEach(walk);
    onPath.set(n.name, onPath.get(n.name)! - 1);
  };
  (root.children ?? []).forEach(walk);
  return [...m.values()].sort((a, b) => b.self - a.self);
}
