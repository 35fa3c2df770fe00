// The Network page's grouping of stored events: flows by process and
// remote endpoint, DNS names by latency and by failure, failed connects.
import { num, type InstantSample, type KEvent } from './api';

// EndpointRow is one process (command) talking to one remote endpoint.
export interface EndpointRow {
  comm: string;
  proto: string;
  remote: string; // address:port ([v6]:port)
  flows: number;
  sent: number; // payload bytes
  received: number;
  retransmits: number;
  errors: number; // TCP retransmits plus failed connects
  failed: number; // failed connects (connect events with an error)
}

export function hostPort(addr: string, port: number | string): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

// endpointRows sums ended flows (flow events) and failed connects
// (connect events with an error) per command and remote endpoint, most
// bytes first.
export function endpointRows(flows: KEvent[], connects: KEvent[] = []): EndpointRow[] {
  const rows = new Map<string, EndpointRow>();
  const row = (comm: string, proto: string, remote: string) => {
    const k = comm + '\u0000' + proto + '\u0000' + remote;
    let r = rows.get(k);
    if (!r) {
      r = { comm, proto, remote, flows: 0, sent: 0, received: 0, retransmits: 0, errors: 0, failed: 0 };
      rows.set(k, r);
    }
    return r;
  };
  for (const f of flows) {
    if (f.type !== 'flow') continue;
    const r = row(f.comm || 'unknown', f.proto, hostPort(f.remote_addr, f.remote_port));
    r.flows++;
    r.sent += f.bytes_sent ?? 0;
    r.received += f.bytes_received ?? 0;
    r.retransmits += f.retransmits ?? 0;
    r.errors += f.retransmits ?? 0;
  }
  for (const c of connects) {
    // A non-blocking connect returns EINPROGRESS: not a failure.
    if (c.type !== 'connect' || !c.error || c.error === 'EINPROGRESS') continue;
    const r = row(c.comm || 'unknown', c.proto ?? 'tcp', hostPort(c.daddr, c.dport));
    r.failed++;
    r.errors++;
  }
  return [...rows.values()].sort((a, b) => b.sent + b.received - (a.sent + a.received) || b.errors - a.errors);
}

// NameRow is one DNS name and type as queries for it went.
export interface NameRow {
  qname: string;
  qtype: string;
  queries: number;
  failed: number; // an rcode other than NOERROR, or a timeout
  timeouts: number;
  rcodes: string[]; // the failing rcodes seen (NXDOMAIN, SERVFAIL, timeout)
  maxNs: number; // the slowest answer's latency
  avgNs: number; // answered queries' average
  comms: string[];
}

export function nameRows(dns: KEvent[]): NameRow[] {
  const rows = new Map<string, NameRow & { sum: number; answered: number }>();
  for (const e of dns) {
    if (e.type !== 'dns') continue;
    const k = e.qname + '\u0000' + e.qtype;
    let r = rows.get(k);
    if (!r) {
      r = { qname: e.qname, qtype: e.qtype, queries: 0, failed: 0, timeouts: 0, rcodes: [], maxNs: 0, avgNs: 0, comms: [], sum: 0, answered: 0 };
      rows.set(k, r);
    }
    r.queries++;
    const rc = e.timeout ? 'timeout' : e.rcode || '';
    if (rc !== 'NOERROR') {
      r.failed++;
      if (!r.rcodes.includes(rc)) r.rcodes.push(rc);
    }
    if (e.timeout) r.timeouts++;
    else {
      r.answered++;
      r.sum += e.latency_ns ?? 0;
      r.maxNs = Math.max(r.maxNs, e.latency_ns ?? 0);
    }
    if (e.comm && !r.comms.includes(e.comm)) r.comms.push(e.comm);
  }
  return [...rows.values()].map(({ sum, answered, ...r }) => ({ ...r, avgNs: answered ? sum / answered : 0 }));
}

// slowestNames: answered names by their slowest answer, slowest first.
export function slowestNames(rows: NameRow[], n: number): NameRow[] {
  return rows.filter((r) => r.queries > r.timeouts).sort((a, b) => b.maxNs - a.maxNs).slice(0, n);
}

// failingNames: names with failed queries, most failures first.
export function failingNames(rows: NameRow[], n: number): NameRow[] {
  return rows.filter((r) => r.failed > 0).sort((a, b) => b.failed - a.failed || a.qname.localeCompare(b.qname)).slice(0, n);
}

// FilterRuleRow is one rule of a pinned `kscope net filter` filter with its
// counters, from the netfilter collector's metrics.
export interface FilterRuleRow {
  filter: string;
  rule: string; // "default": the packets no rule matched
  packets: number; // matched, since the rule was applied
  bytes: number;
  dropped: number; // dropped, or in audit mode would have been
  droppedBytes: number;
  rate?: number; // packets per second over the range
  audit: boolean;
}

// FilterInfo is one pinned filter: where it is attached and how many of
// its rules have matched a packet (rules that never matched have no
// series).
export interface FilterInfo {
  filter: string;
  iface: string;
  hook: string;
  attach: string;
  mode: string;
  dflt: string;
  rules: number;
  matched: number; // rules (not the default) with counters
}

// filterRules joins kscope_net_filter_packets_total and _bytes_total (by
// filter, rule, action), the packet rate by filter and rule, and
// kscope_net_filter_rules into a row per rule and one per filter. A rule of
// a filter the gauge does not list (removed since) is left out.
export function filterRules(packets: InstantSample[], bytes: InstantSample[], rates: InstantSample[], info: InstantSample[]): { rules: FilterRuleRow[]; filters: FilterInfo[] } {
  const filters = new Map<string, FilterInfo>();
  for (const s of info) {
    const m = s.metric;
    filters.set(m.filter, { filter: m.filter, iface: m.interface ?? '', hook: m.hook ?? '', attach: m.attach ?? '', mode: m.mode ?? '', dflt: m.default ?? '', rules: num(s.value[1]), matched: 0 });
  }
  const rows = new Map<string, FilterRuleRow>();
  const row = (m: Record<string, string>) => {
    const f = filters.get(m.filter);
    if (!f) return undefined;
    const k = m.filter + '\u0000' + m.rule;
    let r = rows.get(k);
    if (!r) {
      r = { filter: m.filter, rule: m.rule, packets: 0, bytes: 0, dropped: 0, droppedBytes: 0, audit: f.mode === 'audit' };
      rows.set(k, r);
    }
    return r;
  };
  const dropping = (a: string) => a === 'drop' || a === 'would_drop';
  for (const s of packets) {
    const r = row(s.metric);
    if (!r) continue;
    const v = num(s.value[1]);
    r.packets += v;
    if (dropping(s.metric.action)) r.dropped += v;
  }
  for (const s of bytes) {
    const r = row(s.metric);
    if (!r) continue;
    const v = num(s.value[1]);
    r.bytes += v;
    if (dropping(s.metric.action)) r.droppedBytes += v;
  }
  for (const s of rates) {
    const r = rows.get(s.metric.filter + '\u0000' + s.metric.rule);
    if (r) r.rate = num(s.value[1]);
  }
  for (const r of rows.values()) {
    const f = filters.get(r.filter);
    if (f && r.rule !== 'default') f.matched++;
  }
  const rules = [...rows.values()].sort((a, b) => a.filter.localeCompare(b.filter) || b.packets - a.packets || a.rule.localeCompare(b.rule));
  return { rules, filters: [...filters.values()].sort((a, b) => a.filter.localeCompare(b.filter)) };
}
