import { describe, expect, it } from 'vitest';
import type { KEvent } from '../api';
import { endpointRows, failingNames, hostPort, nameRows, slowestNames } from '../net';

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
