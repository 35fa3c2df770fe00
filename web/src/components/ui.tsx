import type { ComponentChildren, JSX } from 'preact';
import { useMemo, useState } from 'preact/hooks';
import { num, queryRange, queryVector, type InstantSample } from '../api';
import { fmt, type Unit } from '../format';
import { useAsync } from '../hooks';
import { navigate, type Window } from '../store';

export function Panel(p: {
  title: ComponentChildren;
  sub?: ComponentChildren;
  actions?: ComponentChildren;
  children: ComponentChildren;
  class?: string;
  testid?: string;
  span?: 1 | 2 | 3;
}) {
  return (
    <section class={'panel ' + (p.class ?? '') + (p.span ? ' span-' + p.span : '')} data-testid={p.testid}>
      <header class="panel-head">
        <div class="panel-titles">
          <h2>{p.title}</h2>
          {p.sub && <div class="panel-sub">{p.sub}</div>}
        </div>
        {p.actions && <div class="panel-actions">{p.actions}</div>}
      </header>
      <div class="panel-body">{p.children}</div>
    </section>
  );
}

export function Link(p: { href: string; children: ComponentChildren; class?: string; title?: string; testid?: string }) {
  return (
    <a
      href={p.href}
      class={p.class}
      title={p.title}
      data-testid={p.testid}
      onClick={(e) => {
        e.stopPropagation(); // a link in a clickable row goes where it says
        if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(p.href);
      }}
    >
      {p.children}
    </a>
  );
}

// QueryLink opens an expression on the Query page.
export function QueryLink(p: { expr: string }) {
  return (
    <Link class="icon-link" href={'/query?expr=' + encodeURIComponent(p.expr)} title="Open in Query">
      <svg viewBox="0 0 24 24" width="14" height="14" fill="none" stroke="currentColor" stroke-width="2">
        <path d="M18 13v6a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2h6M15 3h6v6M10 14 21 3" />
      </svg>
    </Link>
  );
}

export function Sparkline(p: { values: (number | null)[]; color?: string }) {
  const vs = p.values;
  const max = Math.max(0, ...vs.map((v) => v ?? 0));
  const min = Math.min(0, ...vs.map((v) => v ?? 0));
  const w = 100,
    h = 28;
  let d = '';
  let area = '';
  vs.forEach((v, i) => {
    if (v === null) return;
    const x = vs.length > 1 ? (i / (vs.length - 1)) * w : 0;
    const y = h - ((v - min) / (max - min || 1)) * (h - 2) - 1;
    d += (d ? 'L' : 'M') + x.toFixed(1) + ' ' + y.toFixed(1);
    area += (area ? 'L' : 'M' + x.toFixed(1) + ' ' + h + 'L') + x.toFixed(1) + ' ' + y.toFixed(1);
  });
  const lastX = vs.length > 1 ? w : 0;
  if (area) area += 'L' + lastX + ' ' + h + 'Z';
  return (
    <svg class="spark" viewBox={`0 0 ${w} ${h}`} preserveAspectRatio="none">
      <path d={area} fill={p.color ?? 'var(--accent)'} opacity="0.15" />
      <path d={d} fill="none" stroke={p.color ?? 'var(--accent)'} stroke-width="1.5" vector-effect="non-scaling-stroke" />
    </svg>
  );
}

// Stat shows a query's latest value over a sparkline of the range.
export function Stat(p: { title: string; expr: string; unit: Unit; win: Window; testid?: string; hint?: string; color?: string; href?: string }) {
  const st = useAsync(
    async (signal) => {
      const r = await queryRange(p.expr, p.win.start, p.win.end, p.win.step, signal);
      const xs: (number | null)[] = [];
      for (let t = p.win.start; t <= p.win.end; t += p.win.step) xs.push(null);
      if (r[0]) for (const [t, v] of r[0].values) xs[Math.round((t - p.win.start) / p.win.step)] = num(v);
      return xs;
    },
    p.expr + p.win.key,
  );
  const vals = st.data ?? [];
  let last: number | null = null;
  for (let i = vals.length - 1; i >= 0; i--)
    if (vals[i] !== null && vals[i] !== undefined) {
      last = vals[i];
      break;
    }
  const body = (
    <>
      <div class="stat-title" title={p.hint}>
        {p.title}
      </div>
      <div class="stat-value" data-testid={p.testid ? p.testid + '-value' : undefined}>
        {st.error ? <span class="muted">error</span> : last === null ? <span class="muted">{st.loading ? '…' : '–'}</span> : fmt(last, p.unit)}
      </div>
      <Sparkline values={vals} color={p.color} />
    </>
  );
  if (p.href)
    return (
      <Link class="stat stat-link" href={p.href} testid={p.testid}>
        {body}
      </Link>
    );
  return (
    <div class="stat" data-testid={p.testid}>
      {body}
    </div>
  );
}

export interface Column<T> {
  key: string;
  title: string;
  value: (r: T) => number | string | undefined;
  render?: (r: T) => ComponentChildren;
  unit?: Unit;
  align?: 'left' | 'right';
  bar?: boolean; // a bar behind the cell, relative to the column's max
  width?: string;
  hint?: string;
  // missing says why a cell has no value (shown on hover over "–").
  missing?: string;
}

export function Table<T>(p: {
  rows: T[];
  cols: Column<T>[];
  sort?: string;
  desc?: boolean;
  rowKey: (r: T) => string;
  onRow?: (r: T) => void;
  rowClass?: (r: T) => string;
  testid?: string;
  empty?: string;
  limit?: number;
  expandable?: boolean; // a button shows the rows beyond limit
}) {
  const [all, setAll] = useState(false);
  const [sort, setSort] = useState(p.sort ?? p.cols[0].key);
  const [desc, setDesc] = useState(p.desc ?? true);
  const col = p.cols.find((c) => c.key === sort) ?? p.cols[0];
  const rows = useMemo(() => {
    const rs = [...p.rows];
    rs.sort((a, b) => {
      const va = col.value(a);
      const vb = col.value(b);
      let c: number;
      if (typeof va === 'number' || typeof vb === 'number') c = ((va as number) ?? -Infinity) - ((vb as number) ?? -Infinity);
      else c = String(va ?? '').localeCompare(String(vb ?? ''), undefined, { numeric: true });
      if (isNaN(c)) c = 0;
      return desc ? -c : c;
    });
    return p.limit && !all ? rs.slice(0, p.limit) : rs;
  }, [p.rows, sort, desc, p.limit, all]);
  const maxes = useMemo(() => {
    const m: Record<string, number> = {};
    for (const c of p.cols) if (c.bar) m[c.key] = Math.max(0, ...p.rows.map((r) => (c.value(r) as number) || 0));
    return m;
  }, [p.rows]);
  return (
    <div class="table-wrap">
      <table class="table" data-testid={p.testid}>
        <thead>
          <tr>
            {p.cols.map((c) => (
              <th
                key={c.key}
                class={(c.align === 'right' || c.unit ? 'num ' : '') + (c.key === sort ? 'sorted' : '')}
                style={c.width ? { width: c.width } : undefined}
                title={c.hint}
                onClick={() => {
                  if (c.key === sort) setDesc(!desc);
                  else {
                    setSort(c.key);
                    setDesc(!!c.unit || c.align === 'right');
                  }
                }}
              >
                {c.title}
                {c.key === sort && <span class="arrow">{desc ? '▾' : '▴'}</span>}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 && (
            <tr>
              <td class="empty" colSpan={p.cols.length}>
                {p.empty ?? 'Nothing in this range'}
              </td>
            </tr>
          )}
          {rows.map((r) => (
            <tr key={p.rowKey(r)} class={(p.onRow ? 'clickable ' : '') + (p.rowClass?.(r) ?? '')} onClick={p.onRow ? () => p.onRow!(r) : undefined}>
              {p.cols.map((c) => {
                const v = c.value(r);
                const content = c.render ? (
                  c.render(r)
                ) : c.unit ? (
                  v === undefined ? (
                    <span class="muted" title={c.missing}>
                      –
                    </span>
                  ) : (
                    fmt(v as number, c.unit)
                  )
                ) : (
                  v
                );
                const style: JSX.CSSProperties = {};
                if (c.bar && maxes[c.key] > 0 && typeof v === 'number') style['--barw' as any] = Math.max(0, Math.min(100, (v / maxes[c.key]) * 100)).toFixed(1) + '%';
                return (
                  <td key={c.key} class={(c.align === 'right' || c.unit ? 'num' : '') + (c.bar ? ' bar' : '')} style={style}>
                    {content}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
      {p.expandable && p.limit && p.rows.length > p.limit && (
        <button class="btn ghost more" onClick={() => setAll(!all)}>
          {all ? 'Show fewer' : `Show all ${p.rows.length}`}
        </button>
      )}
    </div>
  );
}

// useVectors runs several instant queries and joins them into rows keyed
// by the given labels.
export function useJoined(queries: Record<string, string>, by: string[], time: number, key: string) {
  return useAsync(async (signal) => {
    const names = Object.keys(queries);
    const res = await Promise.all(names.map((n) => queryVector(queries[n], time, signal).catch(() => [] as InstantSample[])));
    const rows = new Map<string, Record<string, any>>();
    res.forEach((samples, i) => {
      for (const s of samples) {
        const k = by.map((l) => s.metric[l] ?? '').join('\u0000');
        let r = rows.get(k);
        if (!r) {
          r = {};
          by.forEach((l) => (r![l] = s.metric[l] ?? ''));
          rows.set(k, r);
        }
        r[names[i]] = num(s.value[1]);
      }
    });
    return [...rows.values()];
  }, key);
}

export function Empty(p: { children: ComponentChildren }) {
  return <div class="empty-state">{p.children}</div>;
}

export function ErrorBox(p: { error?: string }) {
  if (!p.error) return null;
  return <div class="error-box">{p.error}</div>;
}

export function Badge(p: { kind?: 'ok' | 'bad' | 'warn' | 'info' | 'muted'; children: ComponentChildren; title?: string }) {
  return (
    <span class={'badge ' + (p.kind ?? 'muted')} title={p.title}>
      {p.children}
    </span>
  );
}
