import { describe, expect, it } from 'vitest';
import { fmt, fmtBytes, fmtCores, fmtCount, fmtNumber, fmtPercent, fmtSeconds, guessUnit, promDuration } from '../format';

describe('units', () => {
  it.each([
    [0, '0 s'],
    [4.2e-9, '4.2 ns'],
    [1.024e-6, '1.02 µs'],
    [0.000131072, '131 µs'],
    [0.0125, '12.5 ms'],
    [1, '1 s'],
    [59.5, '59.5 s'],
    [90, '1.5 min'],
    [7200, '2 h'],
    [172800, '2 d'],
    [NaN, '–'],
  ])('fmtSeconds(%s) = %s', (v, want) => expect(fmtSeconds(v)).toBe(want));

  it.each([
    [0, '0 B'],
    [512, '512 B'],
    [1024, '1 KiB'],
    [1536, '1.5 KiB'],
    [10 * 1024 * 1024, '10 MiB'],
    [3.25 * 2 ** 30, '3.25 GiB'],
  ])('fmtBytes(%s) = %s', (v, want) => expect(fmtBytes(v)).toBe(want));

  it.each([
    [0, '0'],
    [999, '999'],
    [1000, '1k'],
    [1180, '1.18k'],
    [62800, '62.8k'],
    [1.2e6, '1.2M'],
  ])('fmtNumber(%s) = %s', (v, want) => expect(fmtNumber(v)).toBe(want));

  it('formats each unit with its suffix', () => {
    expect(fmt(2048, 'bytes/s')).toBe('2 KiB/s');
    expect(fmt(1500, 'ops/s')).toBe('1.5k/s');
    expect(fmt(0.25, 'cores')).toBe('25%');
    expect(fmt(1.5, 'cores')).toBe('150%');
    expect(fmt(0.0042, 'percent')).toBe('0.42%');
    expect(fmt(12345, 'count')).toBe('12,345');
    expect(fmt(NaN, 'seconds')).toBe('–');
    expect(fmtCores(0.00001)).toBe('<0.01%');
    expect(fmtPercent(0)).toBe('0%');
    expect(fmtCount(2.5e6)).toBe('2.5M');
  });

  it.each([
    [1, '1s'],
    [30, '30s'],
    [90, '90s'],
    [120, '2m'],
    [3600, '1h'],
    [86400, '1d'],
    [0.2, '1s'],
  ])('promDuration(%s) = %s', (v, want) => expect(promDuration(v)).toBe(want));

  it.each([
    ['rate(kscope_process_cpu_seconds_total[1m])', 'cores'],
    ['sum(rate(kscope_fileio_read_bytes_total[1m]))', 'bytes/s'],
    ['kscope_self_resident_memory_bytes', 'bytes'],
    ['histogram_quantile(0.99, sum by (le) (rate(kscope_sched_runqueue_latency_seconds_bucket[1m])))', 'seconds'],
    ['kscope_self_map_fill_ratio', 'percent'],
    ['sum(rate(kscope_syscalls_total[1m]))', 'ops/s'],
    ['kscope_processes', 'count'],
  ])('guessUnit(%s) = %s', (expr, want) => expect(guessUnit(expr)).toBe(want));
});
