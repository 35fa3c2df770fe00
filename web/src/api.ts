import type { ProbesData } from './probes';
// The agent's HTTP API: the Prometheus query API, the event store, the
// live event stream, the profile API, the rules and alerts and the UI's
// status endpoints.

import type { RuleGroup } from './alerts';

export interface Metric {
  [label: string]: string;
}

export interface RangeSeries {
  metric: Metric;
  values: [number, string][];
}

export interface InstantSample {
  metric: Metric;
  value: [number, string];
}

export class APIError extends Error {
  status: number;
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }
}

async function get<T>(path: string, params: Record<string, string | string[] | number | undefined>, signal?: AbortSignal): Promise<T> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else q.set(k, String(v));
  }
  const qs = q.toString();
  const resp = await fetch(path + (qs ? '?' + qs : ''), { signal, headers: { Accept: 'application/json' } });
  let body: any;
  try {
    body = await resp.json();
  } catch {
    throw new APIError(`${resp.status} ${resp.statusText}`, resp.status);
  }
  if (body.status !== 'success') throw new APIError(body.error ?? `${resp.status} ${resp.statusText}`, resp.status);
  return body.data as T;
}

export async function queryRange(query: string, start: number, end: number, step: number, signal?: AbortSignal): Promise<RangeSeries[]> {
  const d = await get<{ resultType: string; result: RangeSeries[] }>('/api/v1/query_range', { query, start, end, step }, signal);
  return d.result;
}

export async function queryInstant(query: string, time?: number, signal?: AbortSignal): Promise<{ resultType: string; result: any }> {
  return get('/api/v1/query', { query, time }, signal);
}

// queryVector runs an instant query that returns a vector.
export async function queryVector(query: string, time?: number, signal?: AbortSignal): Promise<InstantSample[]> {
  const d = await queryInstant(query, time, signal);
  if (d.resultType === 'vector') return d.result as InstantSample[];
  if (d.resultType === 'scalar') return [{ metric: {}, value: d.result }];
  return [];
}

export async function labelValues(name: string, signal?: AbortSignal): Promise<string[]> {
  return get(`/api/v1/label/${encodeURIComponent(name)}/values`, {}, signal);
}

export interface KEvent {
  time: string;
  type: string;
  pid: number;
  tid: number;
  ppid: number;
  uid: number;
  comm: string;
  cgroup_id: number;
  // The process's start (kernel ns since boot): pid and start_ns name one
  // process across pid reuse; parent_start_ns names the parent likewise.
  start_ns: number;
  start_time: string;
  parent_start_ns: number;
  // The process's container, Kubernetes pod and systemd unit, each only
  // where it applies (docs/containers.md).
  container_id?: string;
  container_name?: string;
  image?: string;
  pod?: string;
  namespace?: string;
  systemd_unit?: string;
  [field: string]: any;
}

export interface EventQuery {
  type?: string;
  since?: string | number;
  until?: string | number;
  limit?: number;
  match?: string[];
  q?: string; // text in any field, ignoring case
  // pid selects the processes that had the pid; with start, the one process.
  pid?: number | string;
  start?: number | string;
}

export async function events(q: EventQuery, signal?: AbortSignal): Promise<{ events: KEvent[]; truncated: boolean }> {
  return get('/api/v1/events', { type: q.type, since: q.since, until: q.until, limit: q.limit, match: q.match, q: q.q, pid: q.pid, start: q.start }, signal);
}

export interface EventRateSeries extends RangeSeries {
  total: number; // events of the type in the range
}

// eventRate counts every stored event that matches, on the server: events
// per second by type, one point per step (at the step's start).
export async function eventRate(q: EventQuery & { step: number }, signal?: AbortSignal): Promise<EventRateSeries[]> {
  const d = await get<{ resultType: string; result: EventRateSeries[] }>('/api/v1/events/rate', { type: q.type, since: q.since, until: q.until, step: q.step, match: q.match, q: q.q, pid: q.pid, start: q.start }, signal);
  return d.result;
}

export function streamURL(f: { type?: string; pid?: string; comm?: string; q?: string }): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v) q.set(k, v);
  const qs = q.toString();
  return '/api/v1/events/stream' + (qs ? '?' + qs : '');
}

export interface FlameNode {
  name: string;
  value: number;
  base?: number;
  children?: FlameNode[];
}

export interface Profile {
  unit: string;
  total: number;
  base_total?: number;
  root: FlameNode;
}

export interface ProfileQuery {
  pid?: string;
  comm?: string;
  type: 'cpu' | 'offcpu';
  since: number;
  until: number;
  base_since?: number;
  base_until?: number;
}

export async function profile(q: ProfileQuery, signal?: AbortSignal): Promise<Profile> {
  return get('/api/v1/profile', { ...q, format: 'json' }, signal);
}

export interface CollectorStatus {
  name: string;
  running: boolean;
  error?: string;
  took_seconds: number;
  notes: string[];
}

export interface AgentStatus {
  version: string;
  go_version: string;
  hostname: string;
  kernel: string;
  cpus: number;
  started: string;
  interval_seconds: number;
  retention_seconds: number;
  topk: number;
  bpf_stats_window_seconds: number; // 0: BPF run-time statistics never sampled
  bpf_stats_every_seconds: number;
  bpf_stats_error?: string;
  data_dir: string;
  collectors: CollectorStatus[];
  live_subscribers: number;
  event_kinds?: string[];
  // Absent from agents that predate them.
  health?: { status: 'ok' | 'degraded' | 'unhealthy'; reasons: string[] };
  tsdb?: { head_series: number; max_series: number; series_limit_reached: boolean; refused_samples: number };
}

export async function agentStatus(signal?: AbortSignal): Promise<AgentStatus> {
  return get('/api/v1/status/agent', {}, signal);
}

// probes is the agent's running scripts (the probes key): /api/v1/probes.
export async function probes(signal?: AbortSignal): Promise<ProbesData> {
  return get('/api/v1/probes', {}, signal);
}

// KindField is one JSON field of an event kind.
export interface KindField {
  name: string;
  type: string; // string, int, uint, bool, time, []string, []int
  json_type: string;
  doc: string;
  omitempty?: boolean;
}

// KindInfo describes an event kind as /api/v1/kinds lists it: built in or
// built at run time (a script's probes).
export interface KindInfo {
  name: string;
  doc: string;
  fields: KindField[];
  columns: { header: string; width: number; align: 'left' | 'right'; field?: string }[];
  summary: string[]; // the fields a one-line summary shows
  bad?: string; // a field that, when set, marks the event as a failure
}

export async function eventKinds(signal?: AbortSignal): Promise<{ header: KindField[]; kinds: KindInfo[] }> {
  return get('/api/v1/kinds', {}, signal);
}

export interface DoctorReport {
  kernel: string;
  btf: boolean;
  privileges: { root: boolean; cap_bpf: boolean; cap_perfmon: boolean; cap_sys_admin: boolean };
  mounts: { fs: string; path: string; mounted: boolean; mounted_by_kscope?: boolean; error?: string }[];
  features: { name: string; supported: boolean; error?: string; fallback?: string }[];
  ok: boolean;
  reason: string;
}

export async function doctor(signal?: AbortSignal): Promise<DoctorReport> {
  return get('/api/v1/doctor', {}, signal);
}

export function num(v: string | undefined): number {
  if (v === undefined) return NaN;
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  return parseFloat(v);
}

// The rule groups the agent evaluates (Prometheus's /api/v1/rules).
export async function ruleGroups(signal?: AbortSignal): Promise<RuleGroup[]> {
  const d = await get<{ groups: RuleGroup[] }>('/api/v1/rules', {}, signal);
  return d.groups;
}
