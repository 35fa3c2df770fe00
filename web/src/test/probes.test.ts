import { describe, expect, it } from 'vitest';
import { probeRows, type ProbesData } from '../probes';

// As /api/v1/probes answers for two scripts, one with two programs.
const data: ProbesData = {
  scripts: [
    {
      name: 'calls',
      file: '/etc/kscope/probes.d/calls.bt',
      probes: [
        { probes: ['tracepoint:syscalls:sys_enter_getppid'], program: 'calls:tracepoint:syscalls:sys_enter_getppid', runs: 2000, run_seconds: 0.0002, ns_per_run: 100 },
        { probes: ['tracepoint:syscalls:sys_enter_getsid'], program: 'calls:tracepoint:syscalls:sys_enter_getsid', runs: 0, run_seconds: 0, ns_per_run: null },
      ],
      lost_records: 3,
      lost_map_updates: 7,
    },
    { name: 'opens', file: '/etc/kscope/probes.d/opens.bt', probes: [{ probes: ['tracepoint:syscalls:sys_enter_openat'], program: 'opens:tracepoint:syscalls:sys_enter_openat', runs: 50, run_seconds: 0.00001, ns_per_run: 200 }], lost_records: 0, lost_map_updates: 0 },
  ],
  bpf_stats: { sampled_seconds: 10, windows: 10 },
};

describe('probeRows', () => {
  it('makes a row per program with its rate over the sampled seconds, the losses on the script first row', () => {
    expect(probeRows(data)).toEqual([
      { key: 'calls:tracepoint:syscalls:sys_enter_getppid', script: 'calls', file: '/etc/kscope/probes.d/calls.bt', probe: 'tracepoint:syscalls:sys_enter_getppid', runs: 2000, rate: 200, nsPerRun: 100, lostRecords: 3, lostMapUpdates: 7 },
      { key: 'calls:tracepoint:syscalls:sys_enter_getsid', script: 'calls', file: '/etc/kscope/probes.d/calls.bt', probe: 'tracepoint:syscalls:sys_enter_getsid', runs: 0, rate: 0, nsPerRun: undefined, lostRecords: 0, lostMapUpdates: 0 },
      { key: 'opens:tracepoint:syscalls:sys_enter_openat', script: 'opens', file: '/etc/kscope/probes.d/opens.bt', probe: 'tracepoint:syscalls:sys_enter_openat', runs: 50, rate: 5, nsPerRun: 200, lostRecords: 0, lostMapUpdates: 0 },
    ]);
  });
  it('leaves runs, rate and ns per run out when bpf_stats are off', () => {
    const off: ProbesData = { scripts: [{ ...data.scripts[1], probes: [{ ...data.scripts[1].probes[0], runs: null, run_seconds: null, ns_per_run: null }] }], bpf_stats: null };
    const [r] = probeRows(off);
    expect([r.runs, r.rate, r.nsPerRun]).toEqual([undefined, undefined, undefined]);
  });
  it('is empty without scripts', () => {
    expect(probeRows({ scripts: [], bpf_stats: { sampled_seconds: 0, windows: 0 } })).toEqual([]);
  });
});
