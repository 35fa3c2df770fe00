import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { FlameNode, Profile } from '../api';
import { isKernel, maxDepth } from '../flamedata';
export { topFunctions, type FuncRow } from '../flamedata';
import { cssVar } from '../colors';
import { fmtCount, fmtPercent, fmtSeconds } from '../format';
import { useElementWidth } from '../hooks';
import { dark, useObservable } from '../store';

// A flame graph (icicle: the root on top) drawn on a canvas. Click a frame
// to zoom into it, click the root or an ancestor to zoom out; frames
// matching the search are highlighted; with a base profile the colours
// show what grew (red) and what shrank (blue) between the two ranges.

const rowH = 18;

interface Rect {
  x: number;
  w: number;
  node: FlameNode;
  parent: Rect | null;
}

export function fmtValue(v: number, unit: string): string {
  if (unit === 'nanoseconds') return fmtSeconds(v / 1e9);
  return fmtCount(v) + (unit && unit !== 'count' ? ' ' + unit : '');
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return (h >>> 0) / 4294967295;
}

function frameColor(name: string, isDark: boolean): string {
  const r = hash(name);
  if (name === 'all') return isDark ? '#5a6270' : '#c8ccd4';
  if (isKernel(name)) return `hsl(${195 + r * 25}, ${45 + r * 20}%, ${isDark ? 45 : 62}%)`;
  return `hsl(${8 + r * 42}, ${72 + r * 18}%, ${isDark ? 50 : 60}%)`;
}

// diffColor: r in [-1, 1], growth red, shrink blue.
function diffColor(r: number, isDark: boolean): string {
  const a = Math.min(1, Math.abs(r));
  const base = isDark ? [92, 98, 112] : [214, 217, 222];
  const target = r > 0 ? [228, 64, 64] : [64, 120, 228];
  const m = (i: number) => Math.round(base[i] + (target[i] - base[i]) * Math.pow(a, 0.7));
  return `rgb(${m(0)},${m(1)},${m(2)})`;
}

function searchRegex(s: string): RegExp | null {
  if (!s) return null;
  try {
    return new RegExp(s, 'i');
  } catch {
    return new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
  }
}

// matchedTotal sums the values of the outermost frames matching re.
function matchedTotal(n: FlameNode, re: RegExp): number {
  if (re.test(n.name)) return n.value;
  let s = 0;
  for (const c of n.children ?? []) s += matchedTotal(c, re);
  return s;
}

interface FlameProps {
  profile: Profile;
  search?: string;
  height?: number;
  testid?: string;
}

export function FlameGraph(p: FlameProps) {
  const isDark = useObservable(dark);
  const [wrap, width] = useElementWidth<HTMLDivElement>();
  const canvas = useRef<HTMLCanvasElement>(null);
  const tip = useRef<HTMLDivElement>(null);
  const root = p.profile.root;
  const [focus, setFocus] = useState<FlameNode[]>([root]); // path from the root
  const rows = useRef<Rect[][]>([]);
  const diff = root.base !== undefined;
  const total = root.value;
  const baseTotal = root.base ?? 0;
  const re = useMemo(() => searchRegex(p.search ?? ''), [p.search]);
  const depth = useMemo(() => maxDepth(root), [root]);
  useEffect(() => setFocus([root]), [root]);

  const f = focus[focus.length - 1];
  const ancestors = focus.length - 1;
  const height = (depth + 0) * rowH + 2;

  useEffect(() => {
    const cv = canvas.current;
    if (!cv || width === 0) return;
    const dpr = window.devicePixelRatio || 1;
    cv.width = width * dpr;
    cv.height = height * dpr;
    cv.style.width = width + 'px';
    cv.style.height = height + 'px';
    const g = cv.getContext('2d')!;
    g.scale(dpr, dpr);
    g.clearRect(0, 0, width, height);
    g.font = '11px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace';
    g.textBaseline = 'middle';
    const charW = g.measureText('m').width;
    const textColor = isDark ? '#111' : '#111';
    const dimText = cssVar('--fg-muted');
    const out: Rect[][] = [];
    const put = (d: number, r: Rect) => (out[d] ??= []).push(r);

    const paint = (r: Rect, d: number, dim: boolean) => {
      const n = r.node;
      const y = d * rowH;
      let color: string;
      if (diff) {
        const nv = total > 0 ? n.value / total : 0;
        const nb = baseTotal > 0 ? (n.base ?? 0) / baseTotal : 0;
        const m = Math.max(nv, nb);
        color = diffColor(m > 0 ? (nv - nb) / m : 0, isDark);
      } else color = frameColor(n.name, isDark);
      if (diff && n === root) color = diffColor(0, isDark);
      const matched = re ? re.test(n.name) : false;
      if (re && matched) color = '#e040fb';
      if (dim) color = isDark ? '#4a505b' : '#d5d8de';
      g.fillStyle = color;
      g.globalAlpha = re && !matched && !dim ? 0.28 : 1;
      g.fillRect(r.x, y, Math.max(0.5, r.w - 0.5), rowH - 1);
      g.globalAlpha = 1;
      if (r.w > 24) {
        const max = Math.floor((r.w - 6) / charW);
        let label = n.name;
        if (label.length > max) label = label.slice(0, Math.max(0, max - 1)) + '…';
        if (max >= 2) {
          g.fillStyle = (re && !matched) || dim ? dimText : textColor;
          g.fillText(label, r.x + 3, y + rowH / 2);
        }
      }
    };

    // Ancestors of the focus: full width, dimmed.
    let parent: Rect | null = null;
    for (let d = 0; d < ancestors; d++) {
      const r: Rect = { x: 0, w: width, node: focus[d], parent };
      put(d, r);
      paint(r, d, true);
      parent = r;
    }
    const scale = f.value > 0 ? width / f.value : 0;
    const walk = (n: FlameNode, x: number, d: number, par: Rect | null) => {
      const w = n.value * scale;
      if (w < 0.4) return;
      const r: Rect = { x, w, node: n, parent: par };
      put(d, r);
      paint(r, d, false);
      let cx = x;
      for (const c of n.children ?? []) {
        walk(c, cx, d + 1, r);
        cx += c.value * scale;
      }
    };
    walk(f, 0, ancestors, parent);
    rows.current = out;
  }, [p.profile, f, width, height, isDark, re, focus]);

  const hit = (e: MouseEvent): Rect | null => {
    const rect = (e.currentTarget as HTMLElement).getBoundingClientRect();
    const x = e.clientX - rect.left;
    const d = Math.floor((e.clientY - rect.top) / rowH);
    for (const r of rows.current[d] ?? []) if (x >= r.x && x < r.x + r.w) return r;
    return null;
  };

  const onMove = (e: MouseEvent) => {
    const el = tip.current;
    if (!el) return;
    const r = hit(e);
    if (!r) {
      el.style.display = 'none';
      return;
    }
    const n = r.node;
    const self = n.value - (n.children ?? []).reduce((a, c) => a + c.value, 0);
    let html = `<div class="tip-title">${escape(n.name)}</div>`;
    html += `<div class="tip-row"><span class="tip-name">total</span><span class="tip-val">${fmtValue(n.value, p.profile.unit)} · ${fmtPercent(total ? n.value / total : 0)}</span></div>`;
    html += `<div class="tip-row"><span class="tip-name">self</span><span class="tip-val">${fmtValue(self, p.profile.unit)} · ${fmtPercent(total ? self / total : 0)}</span></div>`;
    if (f !== root) html += `<div class="tip-row"><span class="tip-name">of zoomed frame</span><span class="tip-val">${fmtPercent(f.value ? n.value / f.value : 0)}</span></div>`;
    if (diff) {
      const nv = total ? n.value / total : 0;
      const nb = baseTotal ? (n.base ?? 0) / baseTotal : 0;
      html += `<div class="tip-row"><span class="tip-name">base range</span><span class="tip-val">${fmtValue(n.base ?? 0, p.profile.unit)} · ${fmtPercent(nb)}</span></div>`;
      const ch = nv - nb;
      html += `<div class="tip-row"><span class="tip-name">change</span><span class="tip-val ${ch > 0 ? 'up' : ch < 0 ? 'down' : ''}">${ch >= 0 ? '+' : ''}${(ch * 100).toFixed(2)} pp</span></div>`;
    }
    el.innerHTML = html;
    el.style.display = 'block';
    const rect = (e.currentTarget as HTMLElement).getBoundingClientRect();
    const x = e.clientX - rect.left;
    const y = e.clientY - rect.top;
    const tw = el.offsetWidth;
    const tx = x + 16 + tw > width ? x - 16 - tw : x + 16;
    el.style.transform = `translate(${Math.max(0, tx)}px, ${y + 14}px)`;
  };

  const onClick = (e: MouseEvent) => {
    const r = hit(e);
    if (!r) return;
    const path: FlameNode[] = [];
    for (let q: Rect | null = r; q; q = q.parent) path.unshift(q.node);
    setFocus(path);
  };

  const matched = re ? matchedTotal(f, re) : 0;

  return (
    <div class="flame" data-testid={p.testid}>
      <div class="flame-bar">
        <span class="crumbs">
          {focus.map((n, i) => (
            <span key={i}>
              {i > 0 && <span class="sep">›</span>}
              <a
                href="#"
                onClick={(e) => {
                  e.preventDefault();
                  setFocus(focus.slice(0, i + 1));
                }}
              >
                {i === 0 ? 'all' : n.name}
              </a>
            </span>
          ))}
        </span>
        {re && (
          <span class="flame-match" data-testid="flame-match">
            matched {fmtPercent(f.value ? matched / f.value : 0)} of {f === root ? 'total' : 'the zoomed frame'}
          </span>
        )}
        {diff && baseTotal === 0 && <span class="bad">the base range has no samples: every frame is new</span>}
        {diff && (
          <span class="diff-key">
            <span class="sw" style={{ background: diffColor(-1, isDark) }} /> shrank <span class="sw" style={{ background: diffColor(0, isDark) }} /> same{' '}
            <span class="sw" style={{ background: diffColor(1, isDark) }} /> grew
          </span>
        )}
      </div>
      <div class="flame-canvas" ref={wrap} onMouseLeave={() => tip.current && (tip.current.style.display = 'none')}>
        <canvas ref={canvas} onMouseMove={onMove as any} onClick={onClick as any} />
        <div class="tip" ref={tip} />
      </div>
    </div>
  );
}

function escape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

