import { useEffect, useMemo, useRef } from 'preact/hooks';
import { queryRange } from '../api';
import { buildHeat, quantileRow, quantileValue, type HeatData } from '../heat';
import { cssVar } from '../colors';
import { fmtNumber, fmtPercent, fmtSeconds, fmtTime } from '../format';
import { useAsync, useElementWidth } from '../hooks';
import { dark, useObservable } from '../store';
import type { Window } from '../time';

// A heatmap of a Prometheus histogram over time: one column per step,
// one row per bucket (the agent's buckets are log2), the colour the rate
// of observations in that bucket. p50 and p99 lines are drawn over it.

const viridis = ['#440154', '#482878', '#3e4a89', '#31688e', '#26828e', '#1f9e89', '#35b779', '#6ece58', '#b5de2b', '#fde725'];

function ramp(t: number): string {
  const x = Math.max(0, Math.min(1, t)) * (viridis.length - 1);
  const i = Math.min(viridis.length - 2, Math.floor(x));
  const f = x - i;
  const a = parseInt(viridis[i].slice(1), 16);
  const b = parseInt(viridis[i + 1].slice(1), 16);
  const mix = (s: number) => Math.round(((a >> s) & 255) * (1 - f) + ((b >> s) & 255) * f);
  return `rgb(${mix(16)},${mix(8)},${mix(0)})`;
}

export async function fetchHeat(metric: string, win: Window, signal: AbortSignal, match = ''): Promise<HeatData> {
  const expr = `sum by (le) (rate(${metric}_bucket${match}[${win.rateStr}]))`;
  const res = await queryRange(expr, win.start, win.end, win.step, signal);
  return buildHeat(res, win);
}

function boundLabel(b: number): string {
  return isFinite(b) ? fmtSeconds(b) : '+Inf';
}

interface HeatmapProps {
  metric: string; // histogram family name, without _bucket
  match?: string; // a selector's braces, e.g. {op="read"}
  win: Window;
  height?: number;
  testid?: string;
}

export function Heatmap(p: HeatmapProps) {
  const st = useAsync((signal) => fetchHeat(p.metric, p.win, signal, p.match ?? ''), `${p.metric}|${p.match}|${p.win.key}`);
  return <HeatCanvas data={st.data} error={st.error} loading={st.loading} height={p.height} testid={p.testid} />;
}

const axisW = 62;
const axisH = 20;

export function HeatCanvas(p: { data?: HeatData; error?: string; loading: boolean; height?: number; testid?: string }) {
  const isDark = useObservable(dark);
  const [wrap, width] = useElementWidth<HTMLDivElement>();
  const canvas = useRef<HTMLCanvasElement>(null);
  const tip = useRef<HTMLDivElement>(null);
  const height = p.height ?? 200;
  const d = p.data;
  const empty = !d || d.bounds.length === 0;
  const max = useMemo(() => (d ? Math.max(0, ...d.cells.map((c) => Math.max(0, ...c))) : 0), [d]);

  useEffect(() => {
    const cv = canvas.current;
    if (!cv || !d || empty || width === 0) return;
    const dpr = window.devicePixelRatio || 1;
    cv.width = width * dpr;
    cv.height = height * dpr;
    cv.style.width = width + 'px';
    cv.style.height = height + 'px';
    const g = cv.getContext('2d')!;
    g.scale(dpr, dpr);
    g.clearRect(0, 0, width, height);
    const pw = width - axisW - 4;
    const ph = height - axisH - 4;
    const cols = d.xs.length;
    const rows = d.bounds.length;
    const cw = pw / cols;
    const rh = ph / rows;
    g.fillStyle = cssVar('--heat-bg');
    g.fillRect(axisW, 4, pw, ph);
    const lmax = Math.log1p(max);
    for (let i = 0; i < cols; i++) {
      for (let j = 0; j < rows; j++) {
        const v = d.cells[i][j];
        if (v <= 0) continue;
        g.fillStyle = ramp(0.12 + 0.88 * (Math.log1p(v) / lmax));
        g.fillRect(axisW + i * cw, 4 + ph - (j + 1) * rh, Math.ceil(cw + 0.5), Math.ceil(rh + 0.5));
      }
    }
    // Quantile lines.
    const line = (q: number, dash: number[], color: string) => {
      g.beginPath();
      g.setLineDash(dash);
      g.strokeStyle = color;
      g.lineWidth = 1.5;
      let started = false;
      for (let i = 0; i < cols; i++) {
        const r = quantileRow(d.cells[i], q);
        if (r === null) {
          started = false;
          continue;
        }
        const x = axisW + (i + 0.5) * cw;
        const y = 4 + ph - r * rh;
        if (!started) g.moveTo(x, y);
        else g.lineTo(x, y);
        started = true;
      }
      g.stroke();
      g.setLineDash([]);
    };
    line(0.5, [], isDark ? 'rgba(255,255,255,0.9)' : 'rgba(20,24,32,0.85)');
    line(0.99, [4, 3], '#ff6b6b');
    // Axes.
    const fg = cssVar('--fg-muted');
    g.fillStyle = fg;
    g.font = '11px system-ui, sans-serif';
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    const every = Math.max(1, Math.ceil(rows / Math.max(1, Math.floor(ph / 22))));
    for (let j = 0; j < rows; j += every) {
      g.fillText(boundLabel(d.bounds[j]), axisW - 6, 4 + ph - (j + 1) * rh + Math.min(6, rh / 2));
    }
    g.textAlign = 'center';
    g.textBaseline = 'top';
    const labels = Math.max(2, Math.floor(pw / 90));
    const stepCols = Math.max(1, Math.round(cols / labels));
    for (let i = 0; i < cols; i += stepCols) {
      const x = axisW + (i + 0.5) * cw;
      if (x < axisW + 20 || x > width - 20) continue;
      g.fillText(fmtTime(d.xs[i] * 1000).slice(0, 5), x, 4 + ph + 5);
    }
  }, [d, width, height, isDark, empty, max]);

  const onMove = (e: MouseEvent) => {
    const el = tip.current;
    if (!el || !d || empty) return;
    const rect = (e.currentTarget as HTMLElement).getBoundingClientRect();
    const x = e.clientX - rect.left;
    const y = e.clientY - rect.top;
    const pw = width - axisW - 4;
    const ph = height - axisH - 4;
    const i = Math.floor(((x - axisW) / pw) * d.xs.length);
    const j = Math.floor(((4 + ph - y) / ph) * d.bounds.length);
    if (i < 0 || i >= d.xs.length || j < 0 || j >= d.bounds.length) {
      el.style.display = 'none';
      return;
    }
    const col = d.cells[i];
    const total = col.reduce((a, b) => a + b, 0);
    const lo = j > 0 ? boundLabel(d.bounds[j - 1]) : '0';
    const p50 = quantileValue(col, d.bounds, 0.5);
    const p99 = quantileValue(col, d.bounds, 0.99);
    el.innerHTML =
      `<div class="tip-time">${fmtTime(d.xs[i] * 1000, true)}</div>` +
      `<div class="tip-row"><span class="tip-name">${lo} – ${boundLabel(d.bounds[j])}</span><span class="tip-val">${fmtNumber(col[j])}/s</span></div>` +
      `<div class="tip-row"><span class="tip-name">share of column</span><span class="tip-val">${total > 0 ? fmtPercent(col[j] / total) : '–'}</span></div>` +
      `<div class="tip-row"><span class="tip-name">all buckets</span><span class="tip-val">${fmtNumber(total)}/s</span></div>` +
      `<div class="tip-row"><span class="tip-name">p50 · p99</span><span class="tip-val">${p50 === null ? '–' : fmtSeconds(p50)} · ${p99 === null ? '–' : fmtSeconds(p99)}</span></div>`;
    el.style.display = 'block';
    const tw = el.offsetWidth;
    const tx = x + 16 + tw > width ? x - 16 - tw : x + 16;
    el.style.transform = `translate(${Math.max(0, tx)}px, ${Math.max(0, y - 10)}px)`;
  };

  return (
    <div class="chart heatmap" data-testid={p.testid} data-rows={d?.bounds.length ?? 0} data-max={max}>
      <div class="chart-area" ref={wrap} style={{ height: height + 'px' }}>
        {p.error ? (
          <div class="chart-msg error">{p.error}</div>
        ) : empty ? (
          <div class="chart-msg">{p.loading ? 'Loading…' : 'No observations in this range'}</div>
        ) : null}
        <canvas
          ref={canvas}
          style={{ display: empty || p.error ? 'none' : 'block' }}
          onMouseMove={onMove as any}
          onMouseLeave={() => tip.current && (tip.current.style.display = 'none')}
        />
        <div class="tip" ref={tip} />
      </div>
      {!empty && (
        <div class="legend heat-legend">
          <span class="legend-item">
            <span class="qline p50" /> p50
          </span>
          <span class="legend-item">
            <span class="qline p99" /> p99
          </span>
          <span class="legend-item ramp-wrap">
            0 <span class="ramp" style={{ background: `linear-gradient(90deg, ${ramp(0.12)}, ${ramp(0.5)}, ${ramp(1)})` }} /> {fmtNumber(max)}/s per bucket
          </span>
        </div>
      )}
    </div>
  );
}
