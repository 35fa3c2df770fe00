import { describe, expect, it } from 'vitest';
import type { KEvent } from '../api';
import { alertSeries, ancestry, distinct, filterAlerts, outcomeKind, severityKind, target, user } from '../security';

function alert(time: string, rule: string, severity: string, extra: Record<string, any> = {}): KEvent {
  return {
    time,
    type: 'alert',
    pid: 42,
    tid: 42,
    ppid: 1,
    uid: 1000,
    comm: 'sh',
    cgroup_id: 1,
    start_ns: 7,
    start_time: '',
    parent_start_ns: 3,
    rule,
    severity,
    on: 'exec',
    action: 'kill',
    mode: 'enforce',
    outcome: 'killed',
    binary: '/tmp/x',
    ...extra,
  };
}

describe('security', () => {
  it('badges outcomes', () => {
    expect(outcomeKind('killed')).toBe('ok');
    expect(outcomeKind('denied')).toBe('ok');
    expect(outcomeKind('kill failed: ESRCH')).toBe('bad');
    expect(outcomeKind('not acted')).toBe('bad');
    expect(outcomeKind('would kill')).toBe('warn');
    expect(outcomeKind('would deny')).toBe('warn');
    expect(outcomeKind('alerted')).toBe('info');
    expect(outcomeKind(undefined)).toBe('info');
    expect(severityKind('critical')).toBe('bad');
    expect(severityKind('medium')).toBe('warn');
    expect(severityKind('info')).toBe('muted');
  });

  it('names the target of each event', () => {
    expect(target(alert('2026-01-01T00:00:00Z', 'r', 'high'))).toBe('/tmp/x');
    expect(target(alert('2026-01-01T00:00:00Z', 'r', 'high', { on: 'open', binary: '', file: '/etc/shadow', access: ['read'] }))).toBe('/etc/shadow (read)');
    expect(target(alert('2026-01-01T00:00:00Z', 'r', 'high', { on: 'connect', binary: '', destination: '169.254.169.254:80', protocol: 'tcp' }))).toBe('169.254.169.254:80/tcp');
    expect(user(0)).toBe('root');
    expect(user(1000)).toBe('1000');
  });

  it('orders the ancestry oldest first', () => {
    const e = alert('2026-01-01T00:00:00Z', 'r', 'high', {
      ancestors: ['/bin/sh', '/usr/sbin/nginx', ''],
      ancestor_pids: [30, 20, 1],
      ancestor_start_ns: [3, 2, 1],
      ancestor_argv: ['sh -c bash', 'nginx: worker', ''],
    });
    expect(ancestry(e).map((a) => a.name)).toEqual(['pid 1', 'nginx', 'sh']);
    expect(ancestry(e)[2]).toEqual({ pid: 30, start_ns: 3, name: 'sh', argv: ['sh', '-c', 'bash'] });
    expect(ancestry(e)[0]).toEqual({ pid: 1, start_ns: 1, name: 'pid 1', argv: undefined });
    expect(ancestry(alert('2026-01-01T00:00:00Z', 'r', 'high'))).toEqual([]);
  });

  it('filters and lists rules and severities', () => {
    const as = [
      alert('2026-01-01T00:00:00Z', 'b', 'low'),
      alert('2026-01-01T00:00:01Z', 'a', 'critical'),
      alert('2026-01-01T00:00:02Z', 'b', 'high'),
    ];
    expect(distinct(as, 'rule')).toEqual(['a', 'b']);
    expect(distinct(as, 'severity')).toEqual(['critical', 'high', 'low']);
    expect(filterAlerts(as, { rule: 'b' }).map((e) => e.severity)).toEqual(['low', 'high']);
    expect(filterAlerts(as, { rule: 'b', severity: 'high' })).toHaveLength(1);
    expect(filterAlerts(as, {})).toHaveLength(3);
  });

  it('counts alerts per step by severity', () => {
    const start = Date.parse('2026-01-01T00:00:00Z') / 1000;
    const as = [
      alert('2026-01-01T00:00:00Z', 'r', 'low'),
      alert('2026-01-01T00:00:09.999Z', 'r', 'high'),
      alert('2026-01-01T00:00:10Z', 'r', 'high'),
      alert('2026-01-01T00:00:25Z', 'r', 'high'),
      alert('2026-01-01T00:01:00Z', 'r', 'high'), // after the range
      alert('2025-12-31T23:59:59Z', 'r', 'high'), // before
    ];
    const d = alertSeries(as, start, start + 20, 10);
    expect(d.xs).toEqual([start, start + 10, start + 20]);
    expect(d.series).toEqual([
      { name: 'high', values: [1, 1, 1] },
      { name: 'low', values: [1, 0, 0] },
    ]);
  });
});
