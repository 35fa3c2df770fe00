// The agent's always-on scripts (the probes key), as /api/v1/probes
// lists them: their probes' cost from the kernel's bpf_stats windows and
// their losses.

export interface ProbeInfo {
  probes: string[]; // the probes of one program, as bpftrace names them
  program: string; // its name in kscope_self_bpf_program_*{collector="probes"}
  runs: number | null; // runs inside the bpf_stats windows; null: stats off
  run_seconds: number | null;
  ns_per_run: number | null; // null: no run seen yet, or stats off
}

export interface ScriptInfo {
  name: string;
  file: string;
  probes: ProbeInfo[];
  lost_records: number;
  lost_map_updates: number;
}

export interface ProbesData {
  scripts: ScriptInfo[];
  bpf_stats: { sampled_seconds: number; windows: number; error?: string } | null;
}

export interface ProbeRow {
  key: string;
  script: string;
  file: string;
  probe: string;
  runs?: number; // within the windows
  rate?: number; // runs per second: runs over the seconds sampled
  nsPerRun?: number;
  lostRecords: number; // the script's, on its first row only
  lostMapUpdates: number;
}

// probeRows makes one table row per program, in the scripts' order; a
// script's losses are on its first row (they are the script's, not a
// probe's).
export function probeRows(d: ProbesData): ProbeRow[] {
  const rows: ProbeRow[] = [];
  const sampled = d.bpf_stats?.sampled_seconds ?? 0;
  for (const s of d.scripts) {
    s.probes.forEach((p, i) => {
      rows.push({
        key: p.program,
        script: s.name,
        file: s.file,
        probe: p.probes.join(', '),
        runs: p.runs ?? undefined,
        rate: p.runs != null && sampled > 0 ? p.runs / sampled : undefined,
        nsPerRun: p.ns_per_run ?? undefined,
        lostRecords: i === 0 ? s.lost_records : 0,
        lostMapUpdates: i === 0 ? s.lost_map_updates : 0,
      });
    });
  }
  return rows;
}
