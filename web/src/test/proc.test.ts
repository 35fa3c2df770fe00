import { describe, expect, it } from 'vitest';
import type { KEvent } from '../api';
import { collapseExecBursts, placeOf, procHref, timeCmp } from '../proc';

function exec(time: string, pid: number, start: number, filename: string, ret = 0): KEvent {
  return {
    time,
    type: 'exec',
    pid,
    tid: pid,
    ppid: 1,
    uid: 0,
    comm: 'sh',
    cgroup_id: 1,
    start_ns: start,
    start_time: '',
    parent_start_ns: 5,
    filename,
    argv: ['ls'],
    ret,
    ...(ret ? { error: ret === -2 ? 'ENOENT' : 'EACCES' } : {}),
  };
}

describe('process identity', () => {
  it('links a process by pid and start', () => {
    expect(procHref(42, 123456789)).toBe('/processes/42/123456789');
    expect(procHref('42')).toBe('/processes/42');
  });
  it('compares nanosecond times', () => {
    expect(timeCmp('2026-12-06T01:45:15.0244Z', '2026-12-06T01:45:15.02445Z')).toBeLessThan(0);
    expect(timeCmp('2026-12-06T01:45:15.02445Z', '2026-12-06T01:45:15.0244Z')).toBeGreaterThan(0);
    expect(timeCmp('2026-12-06T01:45:15Z', '2026-12-06T01:45:15.000000001Z')).toBeLessThan(0);
    expect(timeCmp('2026-12-06T01:45:16Z', '2026-12-06T01:45:15.999999999Z')).toBeGreaterThan(0);
    expect(timeCmp('2026-12-06T01:45:15.5Z', '2026-12-06T01:45:15.500Z')).toBe(0);
  });
});

describe('collapseExecBursts', () => {
  // A shell's $PATH search: ENOENT in 8 directories, then /usr/bin/ls.
  const dirs = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/sbin', '/bin', '/snap/bin', '/opt/a', '/opt/b'];
  const search = dirs.map((d, i) => exec(`2026-12-06T01:00:00.00000000${i}Z`, 100, 7000, d + '/ls', -2));
  const found = exec('2026-12-06T01:00:00.000000009Z', 100, 7000, '/usr/bin/ls');

  it('folds a failed burst that ends in a success into one entry', () => {
    const out = collapseExecBursts([...search].reverse(), [found]);
    expect(out).toHaveLength(1);
    expect(out[0].filename).toBe('/usr/bin/ls');
    expect(out[0].burst_failed).toBe(8);
    expect(out[0].burst_errors).toEqual(['ENOENT']);
  });
  it('keeps failures no success of the same process followed', () => {
    // pid 100 again but another process (a reused pid): not its success.
    const other = exec('2026-12-06T01:00:01Z', 100, 9000, '/usr/bin/ls');
    // A success of the same process before the failure does not count.
    const before = exec('2026-12-06T00:59:59Z', 101, 7000, '/bin/true');
    const fail = exec('2026-12-06T01:00:00Z', 101, 7000, '/nope', -13);
    const out = collapseExecBursts([...search, fail], [other, before]);
    expect(out).toHaveLength(9);
    expect(out.every((e) => !e.burst_failed)).toBe(true);
    expect(out[0].time).toBe('2026-12-06T01:00:00.000000007Z'); // newest first
  });
  it('splits bursts by the success that ended each', () => {
    const second = [exec('2026-12-06T01:00:02.1Z', 100, 7000, '/a/x', -2), exec('2026-12-06T01:00:02.2Z', 100, 7000, '/b/x', -13)];
    const found2 = exec('2026-12-06T01:00:02.3Z', 100, 7000, '/usr/bin/x');
    const lone = exec('2026-12-06T01:00:03Z', 100, 7000, '/c/y', -2); // nothing found after it
    const out = collapseExecBursts([...search, ...second, lone], [found2, found]);
    expect(out.map((e) => [e.filename, e.burst_failed ?? 0])).toEqual([
      ['/c/y', 0],
      ['/usr/bin/x', 2],
      ['/usr/bin/ls', 8],
    ]);
    expect(out[1].burst_errors).toEqual(['ENOENT', 'EACCES']);
  });
});

describe('placeOf', () => {
  const id = '4124918b3f7da747791edcfa9be37f4e17854813f0d6aefe56fa3ff30c03a4a8';
  it('names a container, never by cgroup id', () => {
    expect(placeOf({ container_id: id, container_name: 'web', image: 'nginx:1.25' })).toEqual({ text: 'web', title: 'container ' + id + ' · image nginx:1.25' });
    expect(placeOf({ container_id: id })).toEqual({ text: '4124918b3f7d', title: 'container ' + id });
  });
  it('names a pod and its container', () => {
    expect(placeOf({ container_id: id, container_name: 'app', pod: 'shop-0', namespace: 'shop' }).text).toBe('shop/shop-0 › app');
    expect(placeOf({ pod: 'shop-0' }).text).toBe('shop-0');
  });
  it('names a unit, and nothing on the host', () => {
    expect(placeOf({ systemd_unit: 'sshd.service' })).toEqual({ text: 'sshd.service', title: 'unit sshd.service' });
    expect(placeOf({})).toEqual({ text: '', title: '' });
  });
});
