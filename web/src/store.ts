// App-wide state: the route, the time range, auto-refresh, the theme and
// the agent's status. Each piece is a tiny observable with a hook.
import { useEffect, useState } from 'preact/hooks';
import { agentStatus, eventKinds, type AgentStatus, type KindInfo } from './api';
import { promDuration } from './format';
import { parseRel, resolveWindow, type TimeRange, type Window } from './time';

export { relRanges, refreshes, parseRel, niceStep, resolveWindow } from './time';
export type { TimeRange, Window } from './time';

type Listener = () => void;

export class Observable<T> {
  private v: T;
  private ls = new Set<Listener>();
  constructor(v: T) {
    this.v = v;
  }
  get(): T {
    return this.v;
  }
  set(v: T) {
    this.v = v;
    this.ls.forEach((l) => l());
  }
  subscribe(l: Listener): () => void {
    this.ls.add(l);
    return () => this.ls.delete(l);
  }
}

export function useObservable<T>(o: Observable<T>): T {
  const [, force] = useState(0);
  useEffect(() => o.subscribe(() => force((n) => n + 1)), [o]);
  return o.get();
}

// ---- routing (History API; the agent serves index.html for these paths)

export interface Route {
  path: string;
  params: URLSearchParams;
}

function currentRoute(): Route {
  return { path: location.pathname.replace(/\/+$/, '') || '/', params: new URLSearchParams(location.search) };
}

export const route = new Observable<Route>(currentRoute());
window.addEventListener('popstate', () => {
  route.set(currentRoute());
  loadTimeFromURL();
});

// navigate goes to a path, keeping the time range and refresh in the URL.
export function navigate(to: string, opts: { replace?: boolean; keepTime?: boolean } = {}) {
  const u = new URL(to, location.origin);
  if (opts.keepTime !== false) {
    const cur = new URLSearchParams(location.search);
    for (const k of ['range', 'from', 'to', 'refresh']) {
      if (cur.has(k) && !u.searchParams.has(k)) u.searchParams.set(k, cur.get(k)!);
    }
  }
  const href = u.pathname + u.search + u.hash;
  if (opts.replace) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  route.set(currentRoute());
}

// setParams changes query parameters of the current page in place.
export function setParams(p: Record<string, string | undefined>, replace = true) {
  const u = new URL(location.href);
  for (const [k, v] of Object.entries(p)) {
    if (v === undefined || v === '') u.searchParams.delete(k);
    else u.searchParams.set(k, v);
  }
  const href = u.pathname + u.search;
  if (replace) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  route.set(currentRoute());
}

export function useRoute(): Route {
  return useObservable(route);
}

// ---- time range and refresh

export const timeRange = new Observable<TimeRange>({ rel: 900 });
export const refresh = new Observable<number>(0);
export const tick = new Observable<number>(0);

function loadTimeFromURL() {
  const p = new URLSearchParams(location.search);
  const from = Number(p.get('from'));
  const to = Number(p.get('to'));
  let tr: TimeRange = { rel: 900 };
  if (from > 0 && to > from) tr = { from, to };
  else {
    const r = parseRel(p.get('range') ?? '');
    if (r) tr = { rel: r };
  }
  const cur = timeRange.get();
  if (JSON.stringify(cur) !== JSON.stringify(tr)) timeRange.set(tr);
  const rf = parseRel(p.get('refresh') ?? '') ?? 0;
  if (rf !== refresh.get()) setRefresh(rf, false);
}

export function setTimeRange(tr: TimeRange) {
  timeRange.set(tr);
  if ('rel' in tr) setParams({ range: promDuration(tr.rel), from: undefined, to: undefined }, false);
  else setParams({ range: undefined, from: String(Math.round(tr.from)), to: String(Math.round(tr.to)) }, false);
  bump();
}

let timer: number | undefined;
export function setRefresh(s: number, updateURL = true) {
  refresh.set(s);
  if (timer) clearInterval(timer);
  timer = undefined;
  // A hidden tab does not refresh; it catches up when shown again.
  if (s > 0) timer = window.setInterval(() => !document.hidden && bump(), s * 1000);
  if (updateURL) setParams({ refresh: s ? s + 's' : undefined });
}

// bump makes every panel fetch again (refresh button, auto-refresh).
export function bump() {
  tick.set(tick.get() + 1);
}

loadTimeFromURL();
document.addEventListener('visibilitychange', () => {
  if (!document.hidden && refresh.get() > 0) bump();
});

export const status = new Observable<AgentStatus | null>(null);

export async function loadStatus() {
  try {
    status.set(await agentStatus());
  } catch {
    // The agent may predate /api/v1/status/agent; pages use defaults.
  }
}

// kinds holds the event kinds the agent knows, in its order (empty until
// /api/v1/kinds answers).
export const kinds = new Observable<KindInfo[]>([]);

export async function loadKinds() {
  try {
    kinds.set((await eventKinds()).kinds);
  } catch {
    // Pages show no kind list; events still render.
  }
}

// kindOf returns the kind of that name, if the agent listed it.
export function kindOf(ks: KindInfo[], name: string): KindInfo | undefined {
  return ks.find((k) => k.name === name);
}

export function interval(): number {
  return status.get()?.interval_seconds ?? 10;
}

// useWindow resolves the time range once per refresh: every panel of one
// refresh shares the same window (and so the same time axis).
const windows = new Map<string, Window>();
export function useWindow(points = 240): Window {
  const tr = useObservable(timeRange);
  const t = useObservable(tick);
  useObservable(status);
  const k = `${t}|${JSON.stringify(tr)}|${interval()}|${points}`;
  let w = windows.get(k);
  if (!w) {
    if (windows.size > 50) windows.clear();
    w = resolveWindow(tr, interval(), points, t);
    windows.set(k, w);
  }
  return w;
}

// ---- theme

export type Theme = 'auto' | 'light' | 'dark';
export const theme = new Observable<Theme>((localStorage.getItem('kscope.theme') as Theme) || 'auto');
const media = window.matchMedia('(prefers-color-scheme: dark)');
export const dark = new Observable<boolean>(false);

function applyTheme() {
  const t = theme.get();
  const isDark = t === 'dark' || (t === 'auto' && media.matches);
  document.documentElement.dataset.theme = isDark ? 'dark' : 'light';
  if (dark.get() !== isDark) dark.set(isDark);
}
media.addEventListener('change', applyTheme);
theme.subscribe(() => {
  localStorage.setItem('kscope.theme', theme.get());
  applyTheme();
});
applyTheme();
