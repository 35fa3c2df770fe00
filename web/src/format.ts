// Units: the agent stores base units (seconds, bytes, counts); these format
// them for people, consistently across every page.

export type Unit =
  | 'seconds' // durations: ns, µs, ms, s, m, h
  | 'bytes' // B, KiB, MiB, GiB
  | 'bytes/s'
  | 'ops/s' // counts per second
  | 'cores' // CPU seconds per second
  | 'percent' // 0..1 shown as %
  | 'count';

function trim(v: number): string {
  if (!isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1).replace(/\.0$/, '');
  return v.toFixed(2).replace(/\.?0+$/, '');
}

export function fmtSeconds(s: number): string {
  if (s == null || isNaN(s)) return '–';
  const a = Math.abs(s);
  if (a === 0) return '0 s';
  if (a < 1e-6) return trim(s * 1e9) + ' ns';
  if (a < 1e-3) return trim(s * 1e6) + ' µs';
  if (a < 1) return trim(s * 1e3) + ' ms';
  if (a < 60) return trim(s) + ' s';
  if (a < 3600) return trim(s / 60) + ' min';
  if (a < 86400) return trim(s / 3600) + ' h';
  return trim(s / 86400) + ' d';
}

const byteUnits = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function fmtBytes(b: number): string {
  if (b == null || isNaN(b)) return '–';
  let v = b;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < byteUnits.length - 1) {
    v /= 1024;
    i++;
  }
  return trim(v) + ' ' + byteUnits[i];
}

const siUnits = ['', 'k', 'M', 'G', 'T'];

export function fmtNumber(n: number): string {
  if (n == null || isNaN(n)) return '–';
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1000 && i < siUnits.length - 1) {
    v /= 1000;
    i++;
  }
  return trim(v) + siUnits[i];
}

export function fmtCount(n: number): string {
  if (n == null || isNaN(n)) return '–';
  if (Math.abs(n) < 1e6 && Number.isInteger(n)) return n.toLocaleString('en-US');
  return fmtNumber(n);
}

export function fmt(v: number, unit: Unit): string {
  if (v == null || isNaN(v)) return '–';
  switch (unit) {
    case 'seconds':
      return fmtSeconds(v);
    case 'bytes':
      return fmtBytes(v);
    case 'bytes/s':
      return fmtBytes(v) + '/s';
    case 'ops/s':
      return fmtNumber(v) + '/s';
    case 'cores':
      return fmtCores(v);
    case 'percent':
      return fmtPercent(v);
    default:
      return Number.isInteger(v) ? fmtCount(v) : fmtNumber(v);
  }
}

// CPU seconds per second, as top shows it: 100% is one core busy.
export function fmtCores(v: number): string {
  if (v == null || isNaN(v)) return '–';
  if (v === 0) return '0%';
  const p = v * 100;
  if (Math.abs(p) < 0.01) return '<0.01%';
  return trim(p) + '%';
}

export function fmtPercent(v: number): string {
  if (v == null || isNaN(v)) return '–';
  if (v === 0) return '0%';
  const p = v * 100;
  if (Math.abs(p) < 0.01) return '<0.01%';
  return trim(p) + '%';
}

export function fmtTime(ms: number, withDate = false): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const t = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  if (!withDate) return t;
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${t}`;
}

export function fmtTimeMs(ms: number): string {
  const d = new Date(ms);
  return fmtTime(ms) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}

// A duration in seconds as the PromQL range syntax wants it: 90 -> "90s".
export function promDuration(s: number): string {
  s = Math.max(1, Math.round(s));
  if (s % 86400 === 0) return s / 86400 + 'd';
  if (s % 3600 === 0) return s / 3600 + 'h';
  if (s % 60 === 0) return s / 60 + 'm';
  return s + 's';
}

export function fmtAgo(ms: number): string {
  const s = (Date.now() - ms) / 1000;
  if (s < 60) return Math.max(0, Math.round(s)) + 's ago';
  if (s < 3600) return Math.round(s / 60) + 'm ago';
  if (s < 86400) return Math.round(s / 3600) + 'h ago';
  return Math.round(s / 86400) + 'd ago';
}

// guessUnit picks a unit from the metric names in the expression.
export function guessUnit(expr: string): Unit {
  const rate = /\b(rate|irate|deriv)\s*\(/.test(expr);
  if (/histogram_quantile/.test(expr) && /_seconds/.test(expr)) return 'seconds';
  if (/cpu_seconds_total|run_seconds_total/.test(expr) && rate) return 'cores';
  if (/_bytes/.test(expr)) return rate ? 'bytes/s' : 'bytes';
  if (/_seconds/.test(expr) && !/_total/.test(expr)) return 'seconds';
  if (/_ratio/.test(expr)) return 'percent';
  if (rate) return 'ops/s';
  return 'count';
}
