import { useMemo } from 'preact/hooks';
import { events as fetchEvents, type KEvent } from '../api';
import { Chart } from '../components/Chart';
import { EventList } from '../components/EventList';
import { useAsync } from '../hooks';
import { Heatmap } from '../components/Heatmap';
import { Link, Panel, QueryLink, Stat } from '../components/ui';
import type { Window } from '../time';
import { collapseExecBursts, procKey } from '../proc';
import { status, useObservable, useWindow } from '../store';
import { ProcessTable } from './Processes';

export function Overview() {
  const win = useWindow();
  const heatWin = useWindow(90);
  const st = useObservable(status);
  const cpus = st?.cpus ?? 1;
  const rw = win.rateStr;
  const q = {
    cpu: `sum(rate(kscope_process_cpu_seconds_total[${rw}])) / ${cpus}`,
    cpuBy: `sum by (comm) (rate(kscope_process_cpu_seconds_total[${rw}]))`,
    sys: `sum(rate(kscope_syscalls_total[${rw}]))`,
    err: `sum(rate(kscope_syscall_errors_total[${rw}]))`,
    sysBy: `sum by (syscall) (rate(kscope_syscalls_total[${rw}]))`,
    errBy: `sum by (syscall, errno) (rate(kscope_syscall_errors_total[${rw}]))`,
    runq: `histogram_quantile(0.99, sum by (le) (rate(kscope_sched_runqueue_latency_seconds_bucket[${rw}])))`,
    procs: `kscope_processes`,
    execs: `sum(rate(kscope_process_execs_total[${rw}]))`,
    estab: `sum(kscope_tcp_connections{state="established"})`,
    retrans: `sum(rate(kscope_tcp_retransmits_total[${rw}]))`,
    tcpStates: `sum by (state) (kscope_tcp_connections)`,
    tcpOpen: `sum by (direction) (rate(kscope_tcp_connections_opened_total[${rw}]))`,
    tcpClosed: `sum(rate(kscope_tcp_connections_closed_total[${rw}]))`,
    tcpFailed: `sum(rate(kscope_tcp_connections_failed_total[${rw}]))`,
    blkBytes: `sum by (op) (rate(kscope_block_io_bytes_total[${rw}]))`,
    fileRead: `sum(rate(kscope_fileio_read_bytes_total[${rw}]))`,
    fileWrite: `sum(rate(kscope_fileio_write_bytes_total[${rw}]))`,
    tcpSent: `sum(rate(kscope_tcp_sent_bytes_total[${rw}]))`,
    tcpRecv: `sum(rate(kscope_tcp_received_bytes_total[${rw}]))`,
    ctx: `sum by (kind) (rate(kscope_sched_context_switches_total[${rw}]))`,
  };
  return (
    <div class="page">
      <div class="stats" data-testid="overview-stats">
        <Stat title="CPU busy" hint={`on-CPU time of every process over ${cpus} CPUs`} expr={q.cpu} unit="percent" win={win} testid="stat-cpu" href="/processes" />
        <Stat title="Syscalls" expr={q.sys} unit="ops/s" win={win} testid="stat-syscalls" color="#73bf69" />
        <Stat title="Syscall errors" expr={q.err} unit="ops/s" win={win} testid="stat-errors" color="#f2495c" />
        <Stat title="Run-queue p99" hint="99th percentile of the time runnable tasks waited for a CPU" expr={q.runq} unit="seconds" win={win} testid="stat-runq" color="#b877d9" />
        <Stat title="Processes" expr={q.procs} unit="count" win={win} testid="stat-procs" color="#8ab8ff" />
        <Stat title="Execs" expr={q.execs} unit="ops/s" win={win} testid="stat-execs" color="#ff9830" href="/events?type=exec" />
        <Stat title="TCP established" expr={q.estab} unit="count" win={win} testid="stat-tcp" color="#f2cc0c" />
        <Stat title="TCP retransmits" expr={q.retrans} unit="ops/s" win={win} testid="stat-retrans" color="#ff7383" />
      </div>
      <div class="grid">
        <Panel title="CPU by command" sub="on-CPU time, 100% = one core; the 8 busiest and the rest" actions={<QueryLink expr={q.cpuBy} />} testid="panel-cpu">
          <Chart queries={[{ expr: q.cpuBy, legend: (m) => m.comm }]} win={win} unit="cores" stacked maxSeries={8} testid="chart-cpu" />
        </Panel>
        <Panel title="Syscalls" sub="calls per second by syscall; the 8 most called and the rest" actions={<QueryLink expr={q.sysBy} />} testid="panel-syscalls">
          <Chart queries={[{ expr: q.sysBy, legend: (m) => m.syscall }]} win={win} unit="ops/s" stacked maxSeries={8} testid="chart-syscalls" />
        </Panel>
        <Panel title="Run-queue latency" sub="time runnable tasks waited for a CPU" actions={<QueryLink expr={`sum by (le) (rate(kscope_sched_runqueue_latency_seconds_bucket[${rw}]))`} />} testid="panel-runq">
          <Heatmap metric="kscope_sched_runqueue_latency_seconds" win={heatWin} testid="heat-runq" />
        </Panel>
        <Panel title="Block I/O latency" sub="issue to completion, every device" actions={<QueryLink expr={`sum by (le) (rate(kscope_block_io_duration_seconds_bucket[${rw}]))`} />} testid="panel-bio">
          <Heatmap metric="kscope_block_io_duration_seconds" win={heatWin} testid="heat-bio" />
        </Panel>
        <Panel title="Syscall errors" sub="errors per second by syscall and errno; the 6 most frequent and the rest" actions={<QueryLink expr={q.errBy} />} testid="panel-errors">
          <Chart queries={[{ expr: q.errBy, legend: (m) => `${m.syscall} ${m.errno}` }]} win={win} unit="ops/s" maxSeries={6} testid="chart-errors" />
        </Panel>
        <Panel title="TCP connections" sub="sockets by state" actions={<QueryLink expr={q.tcpStates} />} testid="panel-tcp">
          <Chart queries={[{ expr: q.tcpStates, legend: (m) => m.state }]} win={win} unit="count" stacked hideZero testid="chart-tcp" />
        </Panel>
        <Panel title="TCP activity" sub="connections opened, closed, failed and segments retransmitted per second" testid="panel-tcp-rates">
          <Chart
            queries={[
              { expr: q.tcpOpen, legend: (m) => 'opened ' + m.direction },
              { expr: q.tcpClosed, legend: () => 'closed' },
              { expr: q.tcpFailed, legend: () => 'failed' },
              { expr: q.retrans, legend: () => 'retransmits' },
            ]}
            win={win}
            unit="ops/s"
            hideZero
            testid="chart-tcp-rates"
          />
        </Panel>
        <Panel title="Throughput" sub="block devices, regular files and TCP" testid="panel-io">
          <Chart
            queries={[
              { expr: q.blkBytes, legend: (m) => 'block ' + m.op },
              { expr: q.fileRead, legend: () => 'file read' },
              { expr: q.fileWrite, legend: () => 'file write' },
              { expr: q.tcpSent, legend: () => 'tcp sent' },
              { expr: q.tcpRecv, legend: () => 'tcp received' },
            ]}
            win={win}
            unit="bytes/s"
            hideZero
            testid="chart-io"
          />
        </Panel>
        <Panel title="Context switches" sub="per second, by kind" actions={<QueryLink expr={q.ctx} />} testid="panel-ctx">
          <Chart queries={[{ expr: q.ctx, legend: (m) => m.kind }]} win={win} unit="ops/s" stacked testid="chart-ctx" />
        </Panel>
        <Panel title="Process lifecycle" sub="forks, execs and exits per second" testid="panel-lifecycle">
          <Chart
            queries={[
              { expr: `sum by (kind) (rate(kscope_process_forks_total[${rw}]))`, legend: (m) => 'fork ' + m.kind },
              { expr: q.execs, legend: () => 'exec' },
              { expr: `sum(rate(kscope_process_exits_total[${rw}]))`, legend: () => 'exit' },
            ]}
            win={win}
            unit="ops/s"
            hideZero
            testid="chart-lifecycle"
          />
        </Panel>
        <Panel
          title="Notable events"
          sub="OOM kills, deaths by signal, failed execs ($PATH searches that found their program as one entry), then processes that ended with an error"
          actions={
            <Link class="btn" href="/events?mode=history">
              All events
            </Link>
          }
          span={3}
          testid="panel-notable"
        >
          <Notable win={win} />
        </Panel>
        <Panel title="Top processes" sub={`average over the range · ${win.spanStr}`} span={3} testid="panel-top">
          <ProcessTable win={win} limit={10} />
        </Panel>
      </div>
    </div>
  );
}

// failedExecs is how many of the newest failed execs Notable reads: one
// $PATH search alone can make dozens. burstProcs bounds the processes whose
// successful execs it then asks for.
const failedExecs = 500;
const burstProcs = 30;

// notableEvents fetches the events that usually mean trouble. Failed execs
// that a successful exec of the same process followed (a $PATH search:
// ENOENT for each directory, then the program) become one entry.
async function notableEvents(range: { since: number; until: number; limit: number }, signal: AbortSignal) {
  const [oom, sig, failedExec, exitCode, exitSig] = await Promise.all([
    fetchEvents({ ...range, type: 'oom' }, signal),
    fetchEvents({ ...range, type: 'signal', match: ['fatal=true'] }, signal),
    fetchEvents({ ...range, type: 'exec', match: ['ret!=0'], limit: failedExecs }, signal),
    fetchEvents({ ...range, type: 'exit', match: ['exit_code!=0'] }, signal),
    fetchEvents({ ...range, type: 'exit', match: ['signal!=0'] }, signal),
  ]);
  // The newest failures' processes (events come oldest first).
  const procs = new Map<string, KEvent>();
  for (let i = failedExec.events.length - 1; i >= 0 && procs.size < burstProcs; i--) {
    const e = failedExec.events[i];
    if (e.start_ns) procs.set(procKey(e), e);
  }
  const ok = await Promise.all(
    [...procs.values()].map((e) => fetchEvents({ type: 'exec', pid: e.pid, start: e.start_ns, since: range.since, until: range.until, match: ['ret=0'], limit: 20 }, signal)),
  );
  const execs = collapseExecBursts(
    failedExec.events,
    ok.flatMap((r) => r.events),
  );
  return [oom, sig, { events: execs }, exitCode, exitSig];
}

// Notable gathers the events that usually mean trouble.
function Notable(p: { win: Window }) {
  const range = { since: p.win.start, until: p.win.end + p.win.step, limit: 50 };
  const st = useAsync((signal) => notableEvents(range, signal), p.win.key);
  const evs = useMemo(() => {
    const all: KEvent[] = [];
    const seen = new Set<string>();
    for (const r of st.data ?? [])
      for (const e of r.events) {
        const k = e.time + e.type + e.tid;
        if (!seen.has(k)) {
          seen.add(k);
          all.push(e);
        }
      }
    // The worst first: OOM kills, deaths by signal, failed execs, $PATH
    // searches that found their program, then error exits; newest first
    // within each.
    const rank = (e: KEvent) => (e.type === 'oom' ? 0 : e.type === 'signal' ? 1 : e.type === 'exec' ? (e.burst_failed ? 2.5 : 2) : e.signal ? 3 : 4);
    return all.sort((a, b) => rank(a) - rank(b) || (a.time < b.time ? 1 : -1)).slice(0, 12);
  }, [st.data]);
  return <EventList events={evs} testid="notable-events" empty={st.loading ? 'Loading…' : st.error ? st.error : 'Nothing notable in this range'} />;
}
