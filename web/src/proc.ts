// A process is its pid and its start time: the kernel reuses pids. Every
// event carries start_ns (the process's start, kernel nanoseconds since
// boot) and parent_start_ns; per-process series carry it as the start
// label. The UI names a process by both.

import type { KEvent } from './api';

// procHref is the path of a process's page: /processes/PID/START, or
// /processes/PID when the start is unknown (the page then shows the newest
// process that had the pid).
export function procHref(pid: number | string, start?: number | string): string {
  return '/processes/' + pid + (start ? '/' + start : '');
}

// eventProcHref is the page of the process an event belongs to.
export function eventProcHref(e: KEvent): string {
  return procHref(e.pid, e.start_ns);
}

// procKey names a process in maps: "PID/START".
export function procKey(e: { pid: number | string; start_ns?: number | string }): string {
  return e.pid + '/' + (e.start_ns ?? '');
}

// Where a process runs, from its events' fields or its series' labels:
// container_name, pod and namespace, systemd_unit, container_id, image.
export interface Placed {
  container_id?: string;
  container_name?: string;
  image?: string;
  pod?: string;
  namespace?: string;
  systemd_unit?: string;
}

// placeLabels are the series labels placeOf reads.
export const placeLabels = ['container_id', 'container_name', 'image', 'pod', 'namespace', 'systemd_unit'];

// placeOf names where a process runs, by name, never by cgroup id: its
// pod (namespace/pod) and container, its container, or its systemd unit;
// '' on the host outside any unit. title says the rest (id, image).
export function placeOf(e: Placed): { text: string; title: string } {
  const pod = e.pod ? (e.namespace ? e.namespace + '/' : '') + e.pod : '';
  const ctr = e.container_name || (e.container_id ? e.container_id.slice(0, 12) : '');
  const title = [e.container_id && 'container ' + e.container_id, e.image && 'image ' + e.image, e.systemd_unit && 'unit ' + e.systemd_unit].filter(Boolean).join(' · ');
  if (pod) return { text: ctr ? pod + ' › ' + ctr : pod, title };
  if (ctr) return { text: ctr, title };
  return { text: e.systemd_unit ?? '', title };
}

// timeCmp compares two RFC 3339 times with up to nanosecond fractions
// (Date.parse keeps milliseconds only).
export function timeCmp(a: string, b: string): number {
  const split = (s: string): [number, number] => {
    const m = /^(.*?)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(s);
    if (!m) return [Date.parse(s), 0];
    return [Date.parse(m[1] + m[3]), Number((m[2] ?? '').padEnd(9, '0').slice(0, 9))];
  };
  const [as, an] = split(a);
  const [bs, bn] = split(b);
  return as - bs || an - bn;
}

// A failed-exec burst collapsed into the exec it ended in: the successful
// exec, with how many failed before it and their errors.
export interface CollapsedExec extends KEvent {
  burst_failed: number;
  burst_errors: string[];
}

// collapseExecBursts folds failed execs that a successful exec of the same
// process (pid and start) followed, as a shell's or execvp's $PATH search
// makes them (ENOENT for each directory tried, then the program), into one
// entry: that successful exec with the failures counted. Failed execs that
// no success followed are returned as they are. succeeded holds successful
// execs of the processes in failed (others are ignored). Newest first.
export function collapseExecBursts(failed: KEvent[], succeeded: KEvent[]): KEvent[] {
  const ok = new Map<string, KEvent[]>();
  for (const e of succeeded) {
    if (e.ret !== 0) continue;
    const k = procKey(e);
    const l = ok.get(k);
    if (l) l.push(e);
    else ok.set(k, [e]);
  }
  for (const l of ok.values()) l.sort((a, b) => timeCmp(a.time, b.time));
  const bursts = new Map<KEvent, CollapsedExec>();
  const out: KEvent[] = [];
  for (const f of failed) {
    // The first success of the process at or after the failure.
    const s = ok.get(procKey(f))?.find((e) => timeCmp(e.time, f.time) >= 0);
    if (!s) {
      out.push(f);
      continue;
    }
    let b = bursts.get(s);
    if (!b) {
      b = { ...s, burst_failed: 0, burst_errors: [] };
      bursts.set(s, b);
      out.push(b);
    }
    b.burst_failed++;
    if (f.error && !b.burst_errors.includes(f.error)) b.burst_errors.push(f.error);
  }
  return out.sort((a, b) => timeCmp(b.time, a.time));
}
