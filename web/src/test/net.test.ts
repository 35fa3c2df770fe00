import { describe, expect, it } from 'vitest';
import type { KEvent } from '../api';
import { endpointRows, failingNames, filterRules, hostPort, nameRows, slowestNames } from '../net';

const hdr = { time: '2026-12-06T00:00:00Z', pid: 7, tid: 7, ppid: 1, uid: 0, cgroup_id: 1, start_ns: 1, start_time: '', parent_start_ns: 0 };
const ev = (e: Partial<KEvent>) => ({ ...hdr, comm: 'x', ...e }) as KEvent;

describe('endpointRows', () => {
  it('sums flows and failed connects per command and remote endpoint, busiest first', () => {
    const flows = [
      ev({ type: 'flow', comm: 'curl', proto: 'tcp', remote_addr: '192.0.2.1', remote_port: 443, bytes_sent: 100, bytes_received: 1000, retransmits: 2 }),
      ev({ type: 'flow', comm: 'curl', proto: 'tcp', remote_addr: '192.0.2.1', remote_port: 443, bytes_sent: 50, bytes_received: 500 }),
      ev({ type: 'flow', comm: 'dig', proto: 'udp', remote_addr: '2001:db8::1', remote_port: 53, bytes_sent: 40, bytes_received: 120 }),
      ev({ type: 'flow', comm: '', proto: 'udp', remote_addr: '10.0.0.1', remote_port: 123, bytes_sent: 48, bytes_received: 48 }),
    ];
    const connects = [
      ev({ type: 'connect', comm: 'curl', proto: 'tcp', daddr: '192.0.2.9', dport: 80, error: 'ECONNREFUSED' }),
      ev({ type: 'connect', comm: 'curl', proto: 'tcp', daddr: '192.0.2.1', dport: 443, error: '' }),
      ev({ type: 'connect', comm: 'curl', proto: 'tcp', daddr: '192.0.2.1', dport: 443, error: 'EINPROGRESS' }),
    ];
    expect(endpointRows(flows, connects)).toEqual([
      { comm: 'curl', proto: 'tcp', remote: '192.0.2.1:443', flows: 2, sent: 150, received: 1500, retransmits: 2, errors: 2, failed: 0 },
      { comm: 'dig', proto: 'udp', remote: '[2001:db8::1]:53', flows: 1, sent: 40, received: 120, retransmits: 0, errors: 0, failed: 0 },
      { comm: 'unknown', proto: 'udp', remote: '10.0.0.1:123', flows: 1, sent: 48, received: 48, retransmits: 0, errors: 0, failed: 0 },
      { comm: 'curl', proto: 'tcp', remote: '192.0.2.9:80', flows: 0, sent: 0, received: 0, retransmits: 0, errors: 1, failed: 1 },
    ]);
  });
  it('writes IPv6 endpoints in brackets', () => {
    expect(hostPort('::1', 53)).toBe('[::1]:53');
    expect(hostPort('127.0.0.1', 53)).toBe('127.0.0.1:53');
  });
});

describe('DNS names', () => {
  const dns = [
    ev({ type: 'dns', comm: 'a', qname: 'ok.test.', qtype: 'A', rcode: 'NOERROR', latency_ns: 1000 }),
    ev({ type: 'dns', comm: 'b', qname: 'ok.test.', qtype: 'A', rcode: 'NOERROR', latency_ns: 3000 }),
    ev({ type: 'dns', comm: 'a', qname: 'slow.test.', qtype: 'A', rcode: 'NOERROR', latency_ns: 9000 }),
    ev({ type: 'dns', comm: 'a', qname: 'gone.test.', qtype: 'AAAA', rcode: 'NXDOMAIN', latency_ns: 500 }),
    ev({ type: 'dns', comm: 'a', qname: 'gone.test.', qtype: 'AAAA', rcode: 'NXDOMAIN', latency_ns: 700 }),
    ev({ type: 'dns', comm: 'a', qname: 'dead.test.', qtype: 'A', timeout: true, latency_ns: 0 }),
  ];
  const rows = nameRows(dns);
  it('groups by name and type', () => {
    expect(rows.find((r) => r.qname === 'ok.test.')).toEqual({
      qname: 'ok.test.', qtype: 'A', queries: 2, failed: 0, timeouts: 0, rcodes: [], maxNs: 3000, avgNs: 2000, comms: ['a', 'b'],
    });
  });
  it('orders the slowest answered names, leaving out names that only timed out', () => {
    expect(slowestNames(rows, 2).map((r) => r.qname)).toEqual(['slow.test.', 'ok.test.']);
    expect(slowestNames(rows, 10).map((r) => r.qname)).not.toContain('dead.test.');
  });
  it('lists failing names with their rcodes, most failures first', () => {
    expect(failingNames(rows, 10).map((r) => [r.qname, r.failed, r.rcodes])).toEqual([
      ['gone.test.', 2, ['NXDOMAIN']],
      ['dead.test.', 1, ['timeout']],
    ]);
  });
});

describe('filterRules', () => {
  const smp = (metric: Record<string, string>, v: number) => ({ metric, value: [0, String(v)] as [number, string] });
  it("sums each rule's actions, counts drops and would-be drops, and says how many rules matched", () => {
    const info = [
      smp({ filter: 'edge', interface: 'eth0', hook: 'xdp', attach: 'xdp', mode: 'enforce', default: 'allow' }, 3),
      smp({ filter: 'sugg', interface: 'eth1', hook: 'tc-ingress', attach: 'tcx', mode: 'audit', default: 'drop' }, 2),
    ];
    const packets = [
      smp({ filter: 'edge', rule: 'no-ssh', action: 'drop' }, 9),
      smp({ filter: 'edge', rule: 'dns-flood', action: 'pass' }, 100),
      smp({ filter: 'edge', rule: 'dns-flood', action: 'drop' }, 20),
      smp({ filter: 'sugg', rule: 'tcp-80-from-10.0.0.1', action: 'pass' }, 5),
      smp({ filter: 'sugg', rule: 'default', action: 'would_drop' }, 8),
      smp({ filter: 'gone', rule: 'x', action: 'pass' }, 1),
    ];
    const bytes = [
      smp({ filter: 'edge', rule: 'no-ssh', action: 'drop' }, 468),
      smp({ filter: 'edge', rule: 'dns-flood', action: 'pass' }, 10000),
      smp({ filter: 'edge', rule: 'dns-flood', action: 'drop' }, 2000),
      smp({ filter: 'sugg', rule: 'tcp-80-from-10.0.0.1', action: 'pass' }, 500),
      smp({ filter: 'sugg', rule: 'default', action: 'would_drop' }, 416),
    ];
    const rates = [smp({ filter: 'edge', rule: 'dns-flood' }, 2)];
    const { rules, filters } = filterRules(packets, bytes, rates, info);
    expect(rules).toEqual([
      { filter: 'edge', rule: 'dns-flood', packets: 120, bytes: 12000, dropped: 20, droppedBytes: 2000, rate: 2, audit: false },
      { filter: 'edge', rule: 'no-ssh', packets: 9, bytes: 468, dropped: 9, droppedBytes: 468, audit: false },
      { filter: 'sugg', rule: 'default', packets: 8, bytes: 416, dropped: 8, droppedBytes: 416, audit: true },
      { filter: 'sugg', rule: 'tcp-80-from-10.0.0.1', packets: 5, bytes: 500, dropped: 0, droppedBytes: 0, audit: true },
    ]);
    expect(filters).toEqual([
      { filter: 'edge', iface: 'eth0', hook: 'xdp', attach: 'xdp', mode: 'enforce', dflt: 'allow', rules: 3, matched: 2 },
      { filter: 'sugg', iface: 'eth1', hook: 'tc-ingress', attach: 'tcx', mode: 'audit', dflt: 'drop', rules: 2, matched: 1 },
    ]);
  });
  it('is empty without filters', () => {
    expect(filterRules([], [], [], [])).toEqual({ rules: [], filters: [] });
  });
});
