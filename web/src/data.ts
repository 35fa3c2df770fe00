import { num, type Metric, type RangeSeries } from './api';
import type { Window } from './time';

export interface ChartQuery {
  expr: string;
  // legend names a series; default: its labels.
  legend?: (m: Metric) => string;
}

export interface Series {
  name: string;
  values: (number | null)[];
}

export interface ChartData {
  xs: number[];
  series: Series[];
}

export function metricName(m: Metric): string {
  const { __name__, ...rest } = m;
  const ls = Object.entries(rest)
    .map(([k, v]) => `${k}="${v}"`)
    .join(', ');
  if (!__name__) return ls ? `{${ls}}` : 'value';
  return ls ? `${__name__}{${ls}}` : __name__;
}

// toChartData aligns range query results on the window's step grid.
export function toChartData(results: { series: RangeSeries[]; legend?: (m: Metric) => string }[], win: Window): ChartData {
  const xs: number[] = [];
  for (let t = win.start; t <= win.end; t += win.step) xs.push(t);
  const series: Series[] = [];
  for (const r of results) {
    for (const s of r.series) {
      const values: (number | null)[] = new Array(xs.length).fill(null);
      for (const [t, v] of s.values) {
        const i = Math.round((t - win.start) / win.step);
        if (i >= 0 && i < xs.length) {
          const f = num(v);
          values[i] = isFinite(f) ? f : null;
        }
      }
      series.push({ name: r.legend ? r.legend(s.metric) : metricName(s.metric), values });
    }
  }
  return { xs, series };
}

// keepTop keeps the n largest series (by their sum over the range) and
// adds up the rest into one "rest" series.
export function keepTop(d: ChartData, n: number): ChartData {
  if (d.series.length <= n) return d;
  const sum = (s: Series) => s.values.reduce<number>((a, v) => a + (v ?? 0), 0);
  const sorted = [...d.series].sort((a, b) => sum(b) - sum(a));
  const rest = sorted.slice(n);
  const values = d.xs.map((_, i) => {
    let t: number | null = null;
    for (const s of rest) if (s.values[i] !== null) t = (t ?? 0) + (s.values[i] as number);
    return t;
  });
  return { xs: d.xs, series: [...sorted.slice(0, n), { name: `rest (${rest.length})`, values }] };
}

