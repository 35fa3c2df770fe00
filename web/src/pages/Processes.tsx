import { useState } from 'preact/hooks';
import { Panel, Table, useJoined, type Column } from '../components/ui';
import { Link } from '../components/ui';
import { fmtCores } from '../format';
import { placeLabels, placeOf, procHref, type Placed } from '../proc';
import { navigate, type Window, useWindow } from '../store';

export interface ProcRow extends Placed {
  pid: string;
  comm: string;
  start: string; // the process's start_ns: a reused pid is another row
  cpu?: number;
  sys?: number;
  err?: number;
  rd?: number;
  wr?: number;
  opens?: number;
  openErr?: number;
  rx?: number;
  tx?: number;
}

// processQueries: per-process families, averaged over the whole window.
export function processQueries(span: string): Record<string, string> {
  // the container, pod and unit labels are the process's: they add no rows
  const by = `sum by (pid, comm, start, ${placeLabels.join(', ')})`;
  return {
    cpu: `${by} (rate(kscope_process_cpu_seconds_total[${span}]))`,
    sys: `${by} (rate(kscope_process_syscalls_total[${span}]))`,
    err: `${by} (rate(kscope_process_syscall_errors_total[${span}]))`,
    rd: `${by} (rate(kscope_fileio_read_bytes_total[${span}]))`,
    wr: `${by} (rate(kscope_fileio_write_bytes_total[${span}]))`,
    opens: `${by} (rate(kscope_fileio_opens_total[${span}]))`,
    openErr: `${by} (rate(kscope_fileio_open_errors_total[${span}]))`,
    rx: `${by} (rate(kscope_process_net_bytes_total{direction="received"}[${span}]))`,
    tx: `${by} (rate(kscope_process_net_bytes_total{direction="sent"}[${span}]))`,
  };
}

// outside says why a per-process cell is empty: each family keeps its own
// top K processes, so a process can be in one and not another.
const outside = 'not among the processes this family keeps (its top K by recent activity; the rest are summed in “other”), or no activity in the range';
// A row without a pid sums the processes of one command that have no
// series of their own: short-lived ones, or outside the top K.
const perCommand = (r: ProcRow) => r.pid === '';
const aggregate = (r: ProcRow) => r.pid === 'other' || perCommand(r);

const cols: Column<ProcRow>[] = [
  {
    key: 'comm',
    title: 'Command',
    value: (r) => r.comm,
    render: (r) =>
      r.pid === 'other' ? (
        <span class="muted" title="processes outside the top K of this family and of its commands, summed">
          other
        </span>
      ) : perCommand(r) ? (
        <span title="this command's short-lived processes (and those outside the top K), summed">{r.comm}</span>
      ) : (
        <Link href={procHref(r.pid, r.start)} class="strong">
          {r.comm}
        </Link>
      ),
  },
  {
    key: 'pid',
    title: 'PID',
    value: (r) => (r.pid === 'other' ? Infinity : perCommand(r) ? Infinity - 1 : Number(r.pid)),
    render: (r) => (r.pid === 'other' ? '' : perCommand(r) ? <span class="muted">many</span> : r.pid),
    align: 'right',
    width: '80px',
  },
  {
    key: 'place',
    title: 'Container / unit',
    value: (r) => placeOf(r).text,
    render: (r) => (
      <span class="muted" title={placeOf(r).title}>
        {placeOf(r).text}
      </span>
    ),
  },
  { key: 'cpu', title: 'CPU', value: (r) => r.cpu, unit: 'cores', bar: true, hint: 'on-CPU time: 100% is one core', missing: outside, render: (r) => (r.cpu === undefined ? <span class="muted" title={outside}>–</span> : fmtCores(r.cpu)) },
  { key: 'sys', title: 'Syscalls', value: (r) => r.sys, unit: 'ops/s', bar: true, missing: outside },
  { key: 'err', title: 'Errors', value: (r) => r.err, unit: 'ops/s', hint: 'syscalls that returned an error', missing: outside },
  { key: 'rd', title: 'File read', value: (r) => r.rd, unit: 'bytes/s', bar: true, missing: outside },
  { key: 'wr', title: 'File write', value: (r) => r.wr, unit: 'bytes/s', bar: true, missing: outside },
  { key: 'rx', title: 'Net in', value: (r) => r.rx, unit: 'bytes/s', bar: true, hint: 'bytes received on IPv4/IPv6 sockets', missing: outside },
  { key: 'tx', title: 'Net out', value: (r) => r.tx, unit: 'bytes/s', bar: true, hint: 'bytes sent on IPv4/IPv6 sockets', missing: outside },
  { key: 'opens', title: 'Opens', value: (r) => r.opens, unit: 'ops/s', missing: outside },
];

export function ProcessTable(p: { win: Window; limit?: number; filter?: string }) {
  const st = useJoined(processQueries(p.win.spanStr), ['pid', 'comm', 'start', ...placeLabels], p.win.end, p.win.key);
  let rows = (st.data ?? []) as ProcRow[];
  if (p.filter) {
    const f = p.filter.toLowerCase();
    rows = rows.filter((r) => r.comm.toLowerCase().includes(f) || r.pid.startsWith(f) || placeOf(r).text.toLowerCase().includes(f));
  }
  return (
    <>
      {st.error && <div class="error-box">{st.error}</div>}
      <Table
        rows={rows}
        cols={p.limit ? cols.filter((c) => c.key !== 'openErr') : cols}
        sort="cpu"
        rowKey={(r) => r.pid + ':' + r.start + ':' + r.comm}
        rowClass={(r) => (aggregate(r) ? 'muted-row' : '')}
        onRow={(r) => !aggregate(r) && navigate(procHref(r.pid, r.start))}
        testid="process-table"
        limit={p.limit ?? 100}
        expandable={!p.limit}
        empty={st.loading ? 'Loading…' : 'No process activity in this range'}
      />
    </>
  );
}

export function Processes() {
  const win = useWindow();
  const [filter, setFilter] = useState('');
  return (
    <div class="page">
      <Panel
        title="Processes"
        sub={`Average rates over the range (${win.spanStr}). Each family keeps its top K processes that lived across a collection interval; the rest are summed per command (PID “many”), then in “other”.`}
        actions={<input class="input" placeholder="Filter by command, pid or container" value={filter} data-testid="process-filter" onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />}
        testid="processes-panel"
      >
        <ProcessTable win={win} filter={filter} />
      </Panel>
    </div>
  );
}
