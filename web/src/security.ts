// Policy alerts (events of kind "alert", docs/policy.md) as the Security
// page shows them: pure helpers, tested without a browser.

import type { KEvent } from './api';

export const severities = ['critical', 'high', 'medium', 'low', 'info'];

// outcomeKind is the badge of an alert's outcome: ok when the kernel acted
// (killed, denied), bad when an enforce-mode action failed, warn for what
// audit mode would have done, info for an alert only.
export function outcomeKind(outcome: string | undefined): 'ok' | 'bad' | 'warn' | 'info' {
  const o = outcome ?? '';
  if (o === 'killed' || o === 'denied') return 'ok';
  if (o.startsWith('kill failed') || o === 'not acted') return 'bad';
  if (o.startsWith('would ')) return 'warn';
  return 'info';
}

export function severityKind(sev: string | undefined): 'bad' | 'warn' | 'info' | 'muted' {
  if (sev === 'critical' || sev === 'high') return 'bad';
  if (sev === 'medium') return 'warn';
  if (sev === 'low') return 'info';
  return 'muted';
}

// target is what the alert is about: the program exec'd, the file opened
// or the destination connected to.
export function target(e: KEvent): string {
  if (e.on === 'open' && e.file) return e.file + (e.access?.length ? ' (' + e.access.join(',') + ')' : '');
  if (e.on === 'connect' && e.destination) return e.destination + (e.protocol ? '/' + e.protocol : '');
  return e.binary ?? e.file ?? e.destination ?? '';
}

export function user(uid: number | undefined): string {
  if (uid === undefined || uid === null) return '';
  return uid === 0 ? 'root' : String(uid);
}

export interface Ancestor {
  pid?: number;
  start_ns?: number;
  name: string; // binary, else comm
  argv?: string[];
}

// ancestry is the alert's chain of ancestors, oldest first (so a reverse
// shell reads nginx → sh → bash), when the alert carries one. The agent
// sends it as parallel lists, nearest ancestor first: ancestors (binaries),
// ancestor_pids, ancestor_start_ns and ancestor_argv (space-separated).
// An ancestor whose binary is unknown shows as its pid.
export function ancestry(e: KEvent): Ancestor[] {
  const bins = e.ancestors;
  if (!Array.isArray(bins)) return [];
  const pids: unknown[] = Array.isArray(e.ancestor_pids) ? e.ancestor_pids : [];
  const starts: unknown[] = Array.isArray(e.ancestor_start_ns) ? e.ancestor_start_ns : [];
  const argvs: unknown[] = Array.isArray(e.ancestor_argv) ? e.ancestor_argv : [];
  const out: Ancestor[] = [];
  bins.forEach((b: unknown, i: number) => {
    const pid = typeof pids[i] === 'number' ? (pids[i] as number) : undefined;
    const start = typeof starts[i] === 'number' ? (starts[i] as number) : undefined;
    const argv = typeof argvs[i] === 'string' && argvs[i] ? (argvs[i] as string).split(' ') : undefined;
    const name = typeof b === 'string' && b ? b.slice(b.lastIndexOf('/') + 1) : pid !== undefined ? 'pid ' + pid : '';
    if (name) out.push({ pid, start_ns: start, name, argv });
  });
  return out.reverse();
}

export interface AlertFilter {
  rule?: string;
  severity?: string;
}

export function filterAlerts(alerts: KEvent[], f: AlertFilter): KEvent[] {
  return alerts.filter((e) => (!f.rule || e.rule === f.rule) && (!f.severity || e.severity === f.severity));
}

// distinct lists the values of a field among the alerts, sorted (for
// severities, most severe first).
export function distinct(alerts: KEvent[], field: 'rule' | 'severity'): string[] {
  const s = new Set<string>();
  for (const e of alerts) if (e[field]) s.add(e[field]);
  const out = [...s];
  if (field === 'severity') return out.sort((a, b) => rank(a) - rank(b));
  return out.sort();
}

function rank(sev: string): number {
  const i = severities.indexOf(sev);
  return i < 0 ? severities.length : i;
}

// alertSeries counts alerts per step by severity: one series per severity
// present, most severe first, a point per step from start to end (seconds),
// each alert in the step its time falls in.
export function alertSeries(alerts: KEvent[], start: number, end: number, step: number): { xs: number[]; series: { name: string; values: number[] }[] } {
  const xs: number[] = [];
  for (let t = start; t <= end; t += step) xs.push(t);
  const by = new Map<string, number[]>();
  for (const e of alerts) {
    const t = Date.parse(e.time) / 1000;
    const i = Math.floor((t - start) / step);
    if (!(i >= 0 && i < xs.length)) continue;
    const sev = e.severity || 'unknown';
    let v = by.get(sev);
    if (!v) {
      v = xs.map(() => 0);
      by.set(sev, v);
    }
    v[i]++;
  }
  const names = [...by.keys()].sort((a, b) => rank(a) - rank(b));
  return { xs, series: names.map((name) => ({ name, values: by.get(name)! })) };
}
