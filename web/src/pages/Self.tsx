import { agentStatus, doctor, probes } from '../api';
import { Chart } from '../components/Chart';
import { Badge, ErrorBox, Panel, QueryLink, Stat, Table, useJoined } from '../components/ui';
import { fmtAgo, fmtCount, fmtPercent, fmtSeconds, promDuration } from '../format';
import { useAsync } from '../hooks';
import { probeRows } from '../probes';
import { useWindow } from '../store';

export function Self() {
  const win = useWindow();
  const rw = win.rateStr;
  const span = win.spanStr;
  const st = useAsync((signal) => agentStatus(signal), 'status' + win.key);
  const doc = useAsync((signal) => doctor(signal), 'doctor');
  const scripts = useAsync((signal) => probes(signal), 'probes' + win.key);
  // BPF run counts and times are sampled in windows (bpf_stats_window_seconds
  // every bpf_stats_every_seconds): a rate over them divided by the rate of
  // the sampled seconds is the programs' full rate. The range must hold a
  // few windows.
  const bWindow = st.data?.bpf_stats_window_seconds ?? 0;
  const bEvery = st.data?.bpf_stats_every_seconds || 60;
  const brw = promDuration(Math.max(win.rate, 3 * bEvery));
  const bspan = promDuration(Math.max(win.span, 3 * bEvery));
  const perSampled = (r: string) => ` / scalar(sum(rate(kscope_self_bpf_stats_window_seconds_total[${r}])))`;
  const bpfCPU = (by: string, r: string) => `sum${by} (rate(kscope_self_bpf_program_run_seconds_total[${r}]))` + perSampled(r);
  const progs = useJoined(
    {
      runs: `sum by (collector, program) (kscope_self_bpf_program_runs_total)`,
      time: `sum by (collector, program) (kscope_self_bpf_program_run_seconds_total)`,
      rate: `sum by (collector, program) (rate(kscope_self_bpf_program_runs_total[${bspan}]))` + perSampled(bspan),
      cpu: bpfCPU(' by (collector, program)', bspan),
      misses: `sum by (collector, program) (kscope_self_bpf_program_recursion_misses_total)`,
    },
    ['collector', 'program'],
    win.end,
    'progs' + win.key + bspan,
  );
  const colls = useJoined(
    {
      up: `kscope_self_collector_up`,
      took: `kscope_self_collect_duration_seconds`,
      events: `sum by (collector) (rate(kscope_self_collector_events_total[${span}]))`,
      lost: `sum by (collector) (kscope_self_ringbuf_lost_total)`,
      filtered: `sum by (collector) (kscope_self_collector_filtered_total)`,
      malformed: `sum by (collector) (kscope_self_collector_malformed_total)`,
      bpf: bpfCPU(' by (collector)', bspan),
    },
    ['collector'],
    win.end,
    'colls' + win.key + bspan,
  );
  const maps = useJoined(
    { fill: `kscope_self_map_fill_ratio`, entries: `kscope_self_map_entries`, max: `kscope_self_map_max_entries` },
    ['collector', 'map'],
    win.end,
    'maps' + win.key,
  );
  const drops = useJoined(
    {
      v: `sum by (reason) (kscope_self_events_dropped_total)`,
    },
    ['reason'],
    win.end,
    'drops' + win.key,
  );
  const notes = new Map((st.data?.collectors ?? []).map((c) => [c.name, c]));
  const collRows = ((colls.data ?? []) as any[]).map((r) => ({ ...r, status: notes.get(r.collector) }));
  for (const c of st.data?.collectors ?? []) if (!collRows.find((r) => r.collector === c.name)) collRows.push({ collector: c.name, up: 0, status: c });

  return (
    <div class="page">
      <div class="stats">
        <Stat title="Agent CPU" expr={`sum(rate(kscope_self_cpu_seconds_total[${rw}]))`} unit="cores" win={win} testid="self-cpu" />
        <Stat title="BPF CPU" hint="time spent in kscope's BPF programs, in the kernel, from the bpf_stats sampling windows" expr={bpfCPU('', brw)} unit="cores" win={win} testid="self-bpf-cpu" color="#ff9830" />
        <Stat title="Memory (RSS)" expr="kscope_self_resident_memory_bytes" unit="bytes" win={win} color="#73bf69" />
        <Stat title="Go heap" expr="kscope_self_go_heap_bytes" unit="bytes" win={win} color="#8ab8ff" />
        <Stat title="Events stored" expr={`sum(rate(kscope_self_events_stored_total[${rw}]))`} unit="ops/s" win={win} color="#b877d9" />
        <Stat title="Events dropped" expr={`sum(rate(kscope_self_events_dropped_total[${rw}]))`} unit="ops/s" win={win} color="#f2495c" />
        <Stat title="Ring buffer lost" expr={`sum(rate(kscope_self_ringbuf_lost_total[${rw}]))`} unit="ops/s" win={win} color="#f2495c" />
        <Stat title="Head series" expr="kscope_self_tsdb_head_series" unit="count" win={win} color="#f2cc0c" />
      </div>
      {st.data && (
        <div class="facts" data-testid="agent-facts">
          <span>
            <b>{st.data.hostname}</b>
          </span>
          <span>kscope {st.data.version}</span>
          <span>{st.data.go_version}</span>
          <span>kernel {st.data.kernel}</span>
          <span>{st.data.cpus} CPUs</span>
          <span>started {fmtAgo(Date.parse(st.data.started))}</span>
          <span>every {fmtSeconds(st.data.interval_seconds)}</span>
          <span>retention {fmtSeconds(st.data.retention_seconds)}</span>
          <span>top K {st.data.topk}</span>
          <span data-testid="bpf-stats-window" title={st.data.bpf_stats_error ?? 'the kernel counts BPF program runs and run time only then: each run costs two clock reads while it does'}>
            {bWindow > 0 ? `BPF stats sampled ${fmtSeconds(bWindow)} every ${fmtSeconds(bEvery)} (${fmtPercent(bWindow / bEvery)})` : st.data.bpf_stats_error ? 'BPF stats unavailable' : 'BPF stats off'}
          </span>
          <span class="mono">{st.data.data_dir}</span>
        </div>
      )}
      <div class="grid">
        <Panel title="BPF CPU by collector" sub={`time in BPF programs, 100% = one core; from the bpf_stats windows over ${brw}`} actions={<QueryLink expr={bpfCPU(' by (collector)', brw)} />}>
          <Chart queries={[{ expr: bpfCPU(' by (collector)', brw), legend: (m) => m.collector }]} win={win} unit="cores" stacked testid="self-bpf-chart" />
        </Panel>
        <Panel title="Agent CPU and memory">
          <Chart queries={[{ expr: `sum by (mode) (rate(kscope_self_cpu_seconds_total[${rw}]))`, legend: (m) => m.mode }]} win={win} unit="cores" stacked height={120} />
          <Chart
            queries={[
              { expr: 'kscope_self_resident_memory_bytes', legend: () => 'resident' },
              { expr: 'kscope_self_go_heap_bytes', legend: () => 'Go heap' },
            ]}
            win={win}
            unit="bytes"
            height={120}
          />
        </Panel>
        <Panel title="Losses" sub="events lost in the kernel, dropped before the store, and map fill" testid="self-losses">
          <Chart
            queries={[
              { expr: `sum by (collector) (rate(kscope_self_ringbuf_lost_total[${rw}]))`, legend: (m) => 'ring buffer ' + m.collector },
              { expr: `sum by (reason) (rate(kscope_self_events_dropped_total[${rw}]))`, legend: (m) => 'store ' + m.reason },
              { expr: `sum(rate(kscope_self_tsdb_samples_rejected_total[${rw}]))`, legend: () => 'samples rejected' },
            ]}
            win={win}
            unit="ops/s"
            height={120}
            hideZero
            emptyText="No losses in this range"
            testid="self-losses-chart"
          />
          <div class="drops">
            {((drops.data ?? []) as any[]).map((d) => (
              <Badge key={d.reason} kind={d.v > 0 ? 'bad' : 'muted'}>
                store {d.reason}: {fmtCount(d.v)}
              </Badge>
            ))}
          </div>
        </Panel>
        <Panel title="BPF maps" sub="hash map fill: entries over capacity, fullest first" testid="self-maps">
          <Table
            rows={(maps.data ?? []) as any[]}
            rowKey={(r) => r.collector + '/' + r.map}
            sort="fill"
            limit={8}
            expandable
            cols={[
              { key: 'collector', title: 'Collector', value: (r) => r.collector },
              { key: 'map', title: 'Map', value: (r) => r.map, render: (r) => <code>{r.map}</code> },
              { key: 'entries', title: 'Entries', value: (r) => r.entries, unit: 'count' },
              { key: 'max', title: 'Capacity', value: (r) => r.max, unit: 'count' },
              {
                key: 'fill',
                title: 'Fill',
                value: (r) => r.fill,
                unit: 'percent',
                bar: true,
                render: (r) => <span class={r.fill > 0.9 ? 'bad' : r.fill > 0.7 ? 'warn' : ''}>{fmtPercent(r.fill)}</span>,
              },
            ]}
          />
        </Panel>
        <Panel title="Scripts" sub="the probes key's always-on scripts: each program's runs and ns per run in the bpf_stats windows, and what the script lost" span={3} testid="self-probes">
          <ErrorBox error={scripts.error} />
          <Table
            rows={scripts.data ? probeRows(scripts.data) : []}
            rowKey={(r) => r.key}
            sort="script"
            desc={false}
            empty="No scripts running: the agent's probes key lists none, or the probes collector is off"
            cols={[
              { key: 'script', title: 'Script', value: (r) => r.script, render: (r) => <b title={r.file}>{r.script}</b> },
              { key: 'probe', title: 'Probe', value: (r) => r.probe, render: (r) => <code>{r.probe}</code> },
              { key: 'runs', title: 'Runs', value: (r) => r.runs, unit: 'count', hint: 'runs inside the bpf_stats sampling windows', missing: 'bpf_stats are off' },
              { key: 'rate', title: 'Runs/s', value: (r) => r.rate, unit: 'ops/s', bar: true, missing: 'bpf_stats are off' },
              { key: 'ns', title: 'ns/run', value: (r) => r.nsPerRun, render: (r) => (r.nsPerRun === undefined ? '–' : Math.round(r.nsPerRun).toString()), align: 'right', missing: 'no run seen in a window yet' },
              { key: 'lost', title: 'Lost records', value: (r) => r.lostRecords, unit: 'count', hint: 'printf records the ring buffer had no room for' },
              { key: 'lostmap', title: 'Lost map updates', value: (r) => r.lostMapUpdates, unit: 'count', hint: 'map updates a full map (max_map_keys) refused' },
            ]}
          />
        </Panel>
        <Panel title="Collectors" sub="running, collecting, and what they delivered or lost" span={3} testid="self-collectors">
          <Table
            rows={collRows}
            rowKey={(r) => r.collector}
            sort="collector"
            desc={false}
            cols={[
              { key: 'collector', title: 'Collector', value: (r) => r.collector, render: (r) => <b>{r.collector}</b> },
              {
                key: 'up',
                title: 'State',
                value: (r) => r.up,
                render: (r) => (r.up === 1 ? <Badge kind="ok">up</Badge> : <Badge kind="bad" title={r.status?.error}>{r.status?.error ? 'failed' : 'down'}</Badge>),
              },
              { key: 'bpf', title: 'BPF CPU', value: (r) => r.bpf, unit: 'cores', bar: true },
              { key: 'took', title: 'Collect', value: (r) => r.took, unit: 'seconds', hint: 'how long the last collection took' },
              { key: 'events', title: 'Events', value: (r) => r.events, unit: 'ops/s' },
              { key: 'lost', title: 'Lost', value: (r) => r.lost, unit: 'count', render: (r) => (r.lost > 0 ? <span class="bad">{fmtCount(r.lost)}</span> : fmtCount(r.lost ?? 0)) },
              { key: 'filtered', title: 'Filtered', value: (r) => r.filtered, unit: 'count' },
              { key: 'malformed', title: 'Malformed', value: (r) => r.malformed, unit: 'count' },
              {
                key: 'notes',
                title: 'Notes',
                value: (r) => (r.status?.error ?? '') + (r.status?.notes ?? []).join(' '),
                render: (r) => (
                  <span class="notes">
                    {r.status?.error && <span class="bad">{r.status.error}</span>}
                    {(r.status?.notes ?? []).map((n: string) => (
                      <span key={n} class="note">
                        {n}
                      </span>
                    ))}
                  </span>
                ),
              },
            ]}
          />
        </Panel>
        <Panel
          title="BPF programs"
          sub={
            bWindow > 0
              ? `run count and time from the kernel's bpf_stats, sampled ${fmtSeconds(bWindow)} every ${fmtSeconds(bEvery)}: totals count the sampled windows only; rates are per second of sampling, over ${bspan}`
              : `run count and time from the kernel's bpf_stats; rates over ${bspan}`
          } span={3} testid="self-programs">
          <ErrorBox error={progs.error} />
          <Table
            rows={(progs.data ?? []) as any[]}
            rowKey={(r) => r.collector + '/' + r.program}
            sort="cpu"
            testid="bpf-programs"
            limit={15}
            expandable
            empty={progs.loading ? 'Loading…' : 'No BPF program statistics (the kernel needs BPF_ENABLE_STATS)'}
            cols={[
              { key: 'collector', title: 'Collector', value: (r) => r.collector },
              { key: 'program', title: 'Program', value: (r) => r.program, render: (r) => <code>{r.program}</code> },
              { key: 'rate', title: 'Runs', value: (r) => r.rate, unit: 'ops/s', bar: true },
              { key: 'avg', title: 'Avg run', value: (r) => (r.rate > 0 ? r.cpu / r.rate : r.runs > 0 ? r.time / r.runs : NaN), unit: 'seconds', hint: 'time per run' },
              { key: 'cpu', title: 'CPU', value: (r) => r.cpu, unit: 'cores', bar: true, hint: 'share of one CPU spent in this program' },
              { key: 'runs', title: 'Sampled runs', value: (r) => r.runs, unit: 'count', hint: 'runs during the sampling windows' },
              { key: 'time', title: 'Sampled time', value: (r) => r.time, unit: 'seconds', hint: 'run time during the sampling windows' },
              { key: 'misses', title: 'Recursion misses', value: (r) => r.misses, unit: 'count' },
            ]}
          />
        </Panel>
        <Panel title="Doctor" sub="what this kernel supports, tested by loading and attaching, and the fallbacks kscope takes" span={3} testid="self-doctor">
          <ErrorBox error={doc.error} />
          {doc.loading && !doc.data && <div class="muted">Running the probes…</div>}
          {doc.data && (
            <>
              <div class="facts">
                <span>{doc.data.ok ? <Badge kind="ok">kscope can run here</Badge> : <Badge kind="bad">{doc.data.reason}</Badge>}</span>
                <span>kernel {doc.data.kernel}</span>
                <span>BTF {doc.data.btf ? <Badge kind="ok">yes</Badge> : <Badge kind="bad">no</Badge>}</span>
                <span>
                  privileges:{' '}
                  {Object.entries(doc.data.privileges)
                    .filter(([, v]) => v)
                    .map(([k]) => k)
                    .join(', ') || 'none'}
                </span>
                {doc.data.mounts.map((m) => (
                  <span key={m.fs}>
                    {m.fs} {m.mounted ? <Badge kind="ok">{m.path}</Badge> : <Badge kind="bad">{m.error ?? 'missing'}</Badge>}
                  </span>
                ))}
              </div>
              <Table
                rows={doc.data.features}
                rowKey={(r) => r.name}
                sort="supported"
                desc={false}
                testid="doctor-features"
                cols={[
                  { key: 'name', title: 'Feature', value: (r) => r.name, render: (r) => <b>{r.name}</b> },
                  { key: 'supported', title: 'Supported', value: (r) => (r.supported ? 1 : 0), render: (r) => (r.supported ? <Badge kind="ok">yes</Badge> : <Badge kind="warn">no</Badge>) },
                  { key: 'fallback', title: 'Fallback', value: (r) => r.fallback ?? '', render: (r) => r.fallback ?? '' },
                  { key: 'error', title: 'Kernel said', value: (r) => r.error ?? '', render: (r) => <span class="muted small">{r.error ?? ''}</span> },
                ]}
              />
            </>
          )}
        </Panel>
      </div>
    </div>
  );
}
