// Time ranges and the windows charts are drawn over: pure functions.
import { promDuration } from './format';

export type TimeRange = { rel: number } | { from: number; to: number }; // seconds; absolute in ms

export const relRanges: [string, number][] = [
  ['5m', 300],
  ['15m', 900],
  ['1h', 3600],
  ['6h', 21600],
  ['24h', 86400],
  ['7d', 604800],
];

export const refreshes: [string, number][] = [
  ['off', 0],
  ['5s', 5],
  ['10s', 10],
  ['30s', 30],
];

export function parseRel(s: string): number | undefined {
  const m = /^(\d+)(s|m|h|d|w)$/.exec(s);
  if (!m) return undefined;
  return parseInt(m[1]) * { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as 's']!;
}

// A window is a resolved time range: what every chart of one refresh
// shares. Times in seconds.
export interface Window {
  start: number;
  end: number;
  span: number;
  step: number; // chart resolution
  rate: number; // rate() window, seconds
  rateStr: string; // as PromQL wants it
  spanStr: string;
  key: string; // changes when anything above does
  live: boolean; // relative range: the end is now
}

const niceSteps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];

export function niceStep(s: number): number {
  for (const n of niceSteps) if (n >= s) return n;
  return Math.ceil(s / 86400) * 86400;
}

export function resolveWindow(tr: TimeRange, interval: number, points = 240, tick = 0, now = Date.now()): Window {
  let start: number, end: number;
  if ('rel' in tr) {
    end = Math.floor(now / 1000);
    start = end - tr.rel;
  } else {
    start = Math.floor(tr.from / 1000);
    end = Math.floor(tr.to / 1000);
  }
  const span = Math.max(1, end - start);
  const step = niceStep(Math.max(interval, span / points));
  // Align to the step, so refreshes hit the same sample grid.
  end = Math.floor(end / step) * step;
  start = end - span;
  start = Math.floor(start / step) * step;
  const rate = Math.max(4 * interval, 2 * step);
  return {
    start,
    end,
    span,
    step,
    rate,
    rateStr: promDuration(rate),
    spanStr: promDuration(span),
    key: `${start}:${end}:${step}:${tick}`,
    live: 'rel' in tr,
  };
}

