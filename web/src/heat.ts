import { num, type RangeSeries } from './api';
import type { Window } from './time';

// A Prometheus histogram over time, as a heatmap draws it.
export interface HeatData {
  xs: number[]; // seconds
  bounds: number[]; // upper bound of each row; the last may be Infinity
  cells: number[][]; // [col][row] observations per second
}

// buildHeat turns the cumulative buckets of a range query (one series per
// le) into observations per second per bucket, keeping the rows that ever
// had observations plus a row of margin (at least 8 rows).
export function buildHeat(res: RangeSeries[], win: Window): HeatData {
  const xs: number[] = [];
  for (let t = win.start; t <= win.end; t += win.step) xs.push(t);
  const rows = res
    .map((s) => ({ le: num(s.metric.le), values: s.values }))
    .filter((r) => !isNaN(r.le))
    .sort((a, b) => a.le - b.le);
  const cum: number[][] = xs.map(() => new Array(rows.length).fill(0));
  rows.forEach((r, j) => {
    for (const [t, v] of r.values) {
      const i = Math.round((t - win.start) / win.step);
      if (i >= 0 && i < xs.length) cum[i][j] = num(v) || 0;
    }
  });
  // Cumulative buckets to per-bucket rates.
  let cells = cum.map((col) => col.map((v, j) => Math.max(0, v - (j > 0 ? col[j - 1] : 0))));
  let bounds = rows.map((r) => r.le);
  // Keep the rows that ever had observations, with one row of margin.
  let lo = bounds.length,
    hi = -1;
  cells.forEach((col) =>
    col.forEach((v, j) => {
      if (v > 0) {
        lo = Math.min(lo, j);
        hi = Math.max(hi, j);
      }
    }),
  );
  if (hi >= 0) {
    lo = Math.max(0, lo - 1);
    hi = Math.min(bounds.length - 1, hi + 1);
    while (hi - lo + 1 < 8 && (lo > 0 || hi < bounds.length - 1)) {
      if (lo > 0) lo--;
      if (hi - lo + 1 < 8 && hi < bounds.length - 1) hi++;
    }
    bounds = bounds.slice(lo, hi + 1);
    cells = cells.map((c) => c.slice(lo, hi + 1));
  } else {
    bounds = [];
    cells = cells.map(() => []);
  }
  return { xs, bounds, cells };
}

// quantileRow returns the fractional row where quantile q of a column
// falls, or null for an empty column.
export function quantileRow(col: number[], q: number): number | null {
  const total = col.reduce((a, b) => a + b, 0);
  if (total <= 0) return null;
  const target = q * total;
  let acc = 0;
  for (let j = 0; j < col.length; j++) {
    if (acc + col[j] >= target && col[j] > 0) return j + (target - acc) / col[j];
    acc += col[j];
  }
  return col.length;
}

export function quantileValue(col: number[], bounds: number[], q: number): number | null {
  const r = quantileRow(col, q);
  if (r === null) return null;
  const j = Math.min(bounds.length - 1, Math.floor(r));
  const upper = bounds[j];
  const lower = j > 0 ? bounds[j - 1] : upper / 2;
  if (!isFinite(upper)) return lower;
  return lower + (upper - lower) * (r - j);
}

