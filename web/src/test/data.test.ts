import { describe, expect, it } from 'vitest';
import { keepTop, metricName, toChartData } from '../data';
import { buildHeat, quantileValue } from '../heat';
import { niceStep, parseRel, resolveWindow } from '../time';

const win = resolveWindow({ from: 1_000_000_000, to: 1_000_060_000 }, 10, 240, 0);

describe('windows', () => {
  it('picks a step of about the requested points, at least the interval', () => {
    expect(niceStep(0.5)).toBe(1);
    expect(niceStep(3.3)).toBe(5);
    expect(niceStep(3000)).toBe(3600);
    expect(niceStep(200000)).toBe(259200);
    const w = resolveWindow({ rel: 3600 }, 10, 240, 7, 1_700_000_123_000);
    expect(w.step).toBe(15);
    expect(w.end % w.step).toBe(0);
    expect(w.end - w.start).toBeGreaterThanOrEqual(3600);
    expect(w.rate).toBe(40);
    expect(w.rateStr).toBe('40s');
    expect(w.spanStr).toBe('1h');
    expect(w.live).toBe(true);
    expect(w.key).toContain(':7');
    expect(resolveWindow({ rel: 300 }, 1, 240, 0, 1_700_000_000_000).rate).toBe(4);
  });
  it('parses relative ranges', () => {
    expect(parseRel('15m')).toBe(900);
    expect(parseRel('7d')).toBe(604800);
    expect(parseRel('1x')).toBeUndefined();
  });
  it('keeps an absolute range', () => {
    expect(win.live).toBe(false);
    expect([win.start, win.end, win.step]).toEqual([1_000_000, 1_000_060, 10]);
  });
});

describe('chart data', () => {
  const w = { ...win, start: 100, end: 130, step: 10 };
  it('aligns range results on the step grid, gaps as null', () => {
    const d = toChartData(
      [
        {
          series: [
            { metric: { __name__: 'x', a: '1' }, values: [[100, '1'], [120, '3'], [130, 'NaN']] },
            { metric: { a: '2' }, values: [[110, '+Inf'], [130, '4.5']] },
          ],
          legend: undefined,
        },
      ],
      w,
    );
    expect(d.xs).toEqual([100, 110, 120, 130]);
    expect(d.series.map((s) => s.name)).toEqual(['x{a="1"}', '{a="2"}']);
    expect(d.series[0].values).toEqual([1, null, 3, null]);
    expect(d.series[1].values).toEqual([null, null, null, 4.5]);
  });
  it('names series by their labels', () => {
    expect(metricName({})).toBe('value');
    expect(metricName({ __name__: 'up' })).toBe('up');
  });
  it('keeps the largest series and sums the rest', () => {
    const d = { xs: [1, 2], series: [{ name: 'a', values: [1, 1] }, { name: 'b', values: [5, null] }, { name: 'c', values: [2, 2] }, { name: 'd', values: [null, null] }] };
    const k = keepTop(d, 2);
    expect(k.series.map((s) => s.name)).toEqual(['b', 'c', 'rest (2)']);
    expect(k.series[2].values).toEqual([1, 1]);
    expect(keepTop(d, 4)).toBe(d);
  });
});

describe('heatmap', () => {
  const w = { ...win, start: 0, end: 10, step: 10 };
  const bucket = (le: string, a: number, b: number) => ({ metric: { le }, values: [[0, String(a)], [10, String(b)]] as [number, string][] });
  it('turns cumulative buckets into per-bucket rates and trims empty rows', () => {
    const les = ['0.001', '0.002', '0.004', '0.008', '0.016', '0.032', '0.064', '0.128', '0.256', '0.512', '1.024', '+Inf'];
    // Observations in 0.004..0.008 (4/s) and 0.008..0.016 (6/s) at t=10.
    const cum = [0, 0, 0, 4, 10, 10, 10, 10, 10, 10, 10, 10];
    const h = buildHeat(
      les.map((le, i) => bucket(le, 0, cum[i])),
      w,
    );
    expect(h.xs).toEqual([0, 10]);
    // Rows 3..4, a row of margin each side, widened to 8 rows.
    expect(h.bounds).toEqual([0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128]);
    const col = h.cells[1];
    expect(col.reduce((a, b) => a + b, 0)).toBe(10);
    expect(col[h.bounds.indexOf(0.008)]).toBe(4);
    expect(col[h.bounds.indexOf(0.016)]).toBe(6);
    expect(h.cells[0].every((v) => v === 0)).toBe(true);
    // Median: the 5th of 10 falls a sixth into the 8-16 ms bucket.
    expect(quantileValue(col, h.bounds, 0.5)).toBeCloseTo(0.008 + 0.008 / 6, 6);
    expect(quantileValue(h.cells[0], h.bounds, 0.5)).toBeNull();
  });
  it('is empty without observations', () => {
    const h = buildHeat([bucket('1', 0, 0), bucket('+Inf', 0, 0)], w);
    expect(h.bounds).toEqual([]);
  });
});
