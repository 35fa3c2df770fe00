export { metricName, toChartData, keepTop } from '../data';
export type { ChartData, ChartQuery, Series } from '../data';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { queryRange } from '../api';
import { keepTop, toChartData, type ChartData, type ChartQuery } from '../data';
import { alpha, cssVar, seriesColor } from '../colors';
import { fmt, fmtTime, type Unit } from '../format';
import { useAsync, useElementWidth } from '../hooks';
import { dark, useObservable } from '../store';
import type { Window } from '../time';

export function fetchChart(queries: ChartQuery[], win: Window, signal: AbortSignal): Promise<ChartData> {
  return Promise.all(queries.map((q) => queryRange(q.expr, win.start, win.end, win.step, signal))).then((rs) =>
    toChartData(
      rs.map((series, i) => ({ series, legend: queries[i].legend })),
      win,
    ),
  );
}

interface ChartProps {
  queries: ChartQuery[];
  win: Window;
  unit: Unit;
  stacked?: boolean;
  height?: number;
  // maxSeries keeps the largest series and sums the rest into one.
  maxSeries?: number;
  // hideZero leaves out series that are zero over the whole range.
  hideZero?: boolean;
  emptyText?: string;
  testid?: string;
}

// Chart fetches PromQL range queries and plots them.
export function Chart(p: ChartProps) {
  const key = p.queries.map((q) => q.expr).join('\n') + '|' + p.win.key;
  const st = useAsync((signal) => fetchChart(p.queries, p.win, signal), key);
  let data = st.data;
  if (data && p.hideZero) data = { xs: data.xs, series: data.series.filter((s) => s.values.some((v) => v !== null && v !== 0)) };
  if (data && p.maxSeries) data = keepTop(data, p.maxSeries);
  return <Plot data={data} error={st.error} loading={st.loading} unit={p.unit} stacked={p.stacked} height={p.height} emptyText={p.emptyText} testid={p.testid} />;
}

interface PlotProps {
  data?: ChartData;
  error?: string;
  loading?: boolean;
  unit: Unit;
  stacked?: boolean;
  height?: number;
  testid?: string;
  legendHeight?: number;
  emptyText?: string;
  bars?: boolean;
}

// Plot draws aligned series with uPlot: a hover tooltip listing every
// series at the cursor, and a legend that toggles series.
export function Plot(p: PlotProps) {
  const isDark = useObservable(dark);
  const [wrap, width] = useElementWidth<HTMLDivElement>();
  const holder = useRef<HTMLDivElement>(null);
  const tip = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const [hidden, setHidden] = useState<Set<string>>(new Set());
  const height = p.height ?? 180;
  const data = p.data;
  const empty = !data || data.series.length === 0 || data.series.every((s) => s.values.every((v) => v === null));
  const names = data?.series.map((s) => s.name).join('\u0000') ?? '';

  // Stacking sums the visible series; the tooltip shows raw values.
  const plotted = useMemo(() => {
    if (!data) return null;
    const vis = data.series.map((s) => !hidden.has(s.name));
    let ys = data.series.map((s) => s.values);
    if (p.stacked) {
      const acc: (number | null)[] = new Array(data.xs.length).fill(null);
      ys = data.series.map((s, i) => {
        if (!vis[i]) return s.values.map(() => null);
        return s.values.map((v, j) => {
          if (v === null) return acc[j];
          acc[j] = (acc[j] ?? 0) + v;
          return acc[j];
        });
      });
    }
    return [data.xs, ...ys] as uPlot.AlignedData;
  }, [data, hidden, p.stacked]);

  useEffect(() => {
    if (!holder.current || !data || empty || width === 0) return;
    const axisColor = cssVar('--fg-muted');
    const gridColor = cssVar('--grid');
    const series: uPlot.Series[] = [{}];
    data.series.forEach((s, i) => {
      const c = seriesColor(i);
      series.push({
        label: s.name,
        stroke: c,
        width: 1.25,
        fill: p.bars ? alpha(c, 0.8) : p.stacked ? alpha(c, 0.55) : data.series.length <= 3 ? alpha(c, 0.12) : undefined,
        points: { show: false },
        paths: p.bars ? uPlot.paths.bars!({ size: [0.85, 40], align: 1 }) : undefined,
        show: !hidden.has(s.name),
        spanGaps: false,
      });
    });
    const bands: uPlot.Band[] = [];
    if (p.stacked) {
      for (let i = 2; i <= data.series.length; i++) bands.push({ series: [i, i - 1], fill: alpha(seriesColor(i - 1), p.bars ? 0.8 : 0.55) });
    }
    const opts: uPlot.Options = {
      width,
      height,
      series,
      bands,
      legend: { show: false },
      padding: [8, 8, 0, 0],
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.08 : 1] } },
      axes: [
        {
          stroke: axisColor,
          grid: { stroke: gridColor, width: 1 },
          ticks: { stroke: gridColor, width: 1, size: 4 },
          font: '11px system-ui, sans-serif',
          space: 64,
          values: (_u, splits, _ai, foundSpace) => splits.map((t) => timeTick(t, foundSpace, data.xs[data.xs.length - 1] - data.xs[0])),
        },
        {
          stroke: axisColor,
          grid: { stroke: gridColor, width: 1 },
          ticks: { show: false },
          font: '11px system-ui, sans-serif',
          size: 62,
          space: 30,
          values: (_u, splits) => splits.map((v) => fmt(v, p.unit)),
        },
      ],
      hooks: {
        setCursor: [
          (u) => {
            const el = tip.current;
            if (!el) return;
            const idx = u.cursor.idx;
            if (idx == null || u.cursor.left == null || u.cursor.left < 0) {
              el.style.display = 'none';
              return;
            }
            const rows = data.series
              .map((s, i) => ({ name: s.name, v: s.values[idx], c: seriesColor(i), shown: !hidden.has(s.name) }))
              .filter((r) => r.shown && r.v !== null)
              .sort((a, b) => (b.v as number) - (a.v as number));
            if (rows.length === 0) {
              el.style.display = 'none';
              return;
            }
            const max = 10;
            let html = `<div class="tip-time">${fmtTime(data.xs[idx] * 1000, true)}</div>`;
            for (const r of rows.slice(0, max)) {
              html += `<div class="tip-row"><span class="dot" style="background:${r.c}"></span><span class="tip-name">${escapeHTML(r.name)}</span><span class="tip-val">${fmt(r.v as number, p.unit)}</span></div>`;
            }
            if (rows.length > max) html += `<div class="tip-more">+${rows.length - max} more</div>`;
            el.innerHTML = html;
            el.style.display = 'block';
            const left = u.cursor.left + u.over.offsetLeft;
            const tw = el.offsetWidth;
            const x = left + 16 + tw > width ? left - 16 - tw : left + 16;
            el.style.transform = `translate(${Math.max(0, x)}px, ${Math.max(0, (u.cursor.top ?? 0) - 10)}px)`;
          },
        ],
      },
    };
    const u = new uPlot(opts, plotted!, holder.current);
    plot.current = u;
    return () => {
      u.destroy();
      plot.current = null;
    };
    // Rebuild when the set of series, the theme or the shape changes.
  }, [names, isDark, empty, p.stacked, p.bars, p.unit, height, hidden, width > 0]);

  useEffect(() => {
    if (plot.current && plotted) plot.current.setData(plotted);
  }, [plotted]);
  useEffect(() => {
    if (plot.current && width > 0) plot.current.setSize({ width, height });
  }, [width, height]);

  const toggle = (name: string, solo: boolean) => {
    setHidden((h) => {
      const n = new Set(h);
      if (solo) {
        const all = data!.series.map((s) => s.name);
        const onlyThis = all.every((x) => x === name || h.has(x)) && !h.has(name);
        n.clear();
        if (!onlyThis) all.forEach((x) => x !== name && n.add(x));
        return n;
      }
      if (n.has(name)) n.delete(name);
      else n.add(name);
      return n;
    });
  };

  return (
    <div class="chart" data-testid={p.testid} data-series={data?.series.length ?? 0} data-points={data ? data.series.reduce((a, s) => a + s.values.filter((v) => v !== null).length, 0) : 0}>
      <div class="chart-area" ref={wrap} style={{ height: height + 'px' }} onMouseLeave={() => tip.current && (tip.current.style.display = 'none')}>
        {p.error ? (
          <div class="chart-msg error">{p.error}</div>
        ) : empty ? (
          <div class="chart-msg">{p.loading ? 'Loading…' : (p.emptyText ?? 'No data in this range')}</div>
        ) : null}
        <div ref={holder} style={{ display: empty || p.error ? 'none' : 'block' }} />
        <div class="tip" ref={tip} />
      </div>
      {data && data.series.length > 1 && (
        <div class="legend" style={p.legendHeight ? { maxHeight: p.legendHeight + 'px' } : undefined}>
          {data.series.map((s, i) => (
            <span
              key={s.name}
              class={'legend-item' + (hidden.has(s.name) ? ' off' : '')}
              title="Click to show or hide; shift-click to show only this one"
              onClick={(e) => toggle(s.name, (e as MouseEvent).shiftKey)}
            >
              <span class="dot" style={{ background: seriesColor(i) }} />
              {s.name}
            </span>
          ))}
        </div>
      )}
    </div>
  );
}

// timeTick labels the time axis in 24-hour time: seconds when ticks are
// under a minute apart, the date when the range spans days.
function timeTick(t: number, space: number, span: number): string {
  const s = fmtTime(t * 1000, true);
  if (span > 2 * 86400) return s.slice(5, 16);
  if (space < 60) return s.slice(11, 19);
  return s.slice(11, 16);
}

export function escapeHTML(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
