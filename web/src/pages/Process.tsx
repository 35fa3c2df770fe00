import { useEffect, useMemo } from 'preact/hooks';
import { events as fetchEvents, type KEvent } from '../api';
import { Chart } from '../components/Chart';
import { EventList, summary } from '../components/EventList';
import { ProfileView } from '../components/ProfileView';
import { Badge, Link, Panel, QueryLink, Stat, Table, useJoined } from '../components/ui';
import { fmt, fmtSeconds, fmtTime } from '../format';
import { useAsync } from '../hooks';
import { eventProcHref, placeOf, procHref } from '../proc';
import { kindOf, kinds, navigate, setParams, useObservable, useRoute, useWindow } from '../store';

interface Ancestor {
  pid: number;
  start?: number;
  comm: string;
  exec?: KEvent;
}

// ancestry follows ppid and parent_start_ns through the event store: a
// process's events name its parent by pid and start, so a reused pid never
// joins another process's ancestry, execs, exit or children.
async function ancestry(pid: number, start: number, signal: AbortSignal): Promise<{ chain: Ancestor[]; execs: KEvent[]; exit?: KEvent; children: KEvent[] }> {
  const [own, exits, children, any] = await Promise.all([
    fetchEvents({ type: 'exec', pid, start, limit: 20 }, signal),
    fetchEvents({ type: 'exit', pid, start, limit: 1 }, signal),
    fetchEvents({ type: 'exec', match: ['ppid=' + pid, 'parent_start_ns=' + start], limit: 50 }, signal),
    fetchEvents({ pid, start, limit: 1 }, signal),
  ]);
  const chain: Ancestor[] = [];
  const newest = own.events[own.events.length - 1] ?? any.events[0];
  let ppid = newest?.ppid ?? 0;
  let pstart = newest?.parent_start_ns ?? 0;
  const seen = new Set([pid + '/' + start]);
  for (let depth = 0; ppid > 0 && pstart > 0 && depth < 12 && !seen.has(ppid + '/' + pstart); depth++) {
    seen.add(ppid + '/' + pstart);
    const ex = await fetchEvents({ type: 'exec', pid: ppid, start: pstart, limit: 1 }, signal);
    let ev: KEvent | undefined = ex.events[0];
    let a: Ancestor = { pid: ppid, start: pstart, comm: ev?.comm ?? '', exec: ev };
    if (!ev) {
      const other = await fetchEvents({ pid: ppid, start: pstart, limit: 1 }, signal);
      ev = other.events[0];
      a = { pid: ppid, start: pstart, comm: ev?.comm ?? '' };
    }
    chain.unshift(a);
    ppid = ev?.ppid ?? 0;
    pstart = ev?.parent_start_ns ?? 0;
  }
  return { chain, execs: own.events, exit: exits.events[0], children: children.events };
}

// Process is the page of one process, /processes/PID/START. Without the
// start (/processes/PID) it shows the newest process that had the pid.
export function Process(p: { pid: string; start?: string }) {
  const pid = Number(p.pid);
  const newest = useAsync((signal) => (p.start ? Promise.resolve(undefined) : fetchEvents({ pid, limit: 1 }, signal)), p.pid + '|' + (p.start ?? ''));
  useEffect(() => {
    const e = newest.data?.events[0];
    if (!p.start && e?.start_ns) navigate(procHref(e.pid, e.start_ns) + location.search, { replace: true });
  }, [newest.data, p.start]);
  if (!p.start) {
    if (newest.loading || newest.data?.events[0]?.start_ns) return <div class="page muted">…</div>;
    return <ProcessPage pid={pid} start={0} />;
  }
  return <ProcessPage pid={pid} start={Number(p.start)} />;
}

function ProcessPage(p: { pid: number; start: number }) {
  const ks = useObservable(kinds);
  const win = useWindow();
  const offcpu = useRoute().params.get('flame') === 'offcpu';
  const { pid, start } = p;
  const key = pid + '/' + start;
  // Series carry the start as a label; with no start known, the pid's.
  const sel = start ? `pid="${pid}",start="${start}"` : `pid="${pid}"`;
  const rw = win.rateStr;
  const byProc = start ? { pid, start } : { pid };
  const anc = useAsync((signal) => (start ? ancestry(pid, start, signal) : Promise.resolve(undefined)), key + '|' + win.key);
  const recent = useAsync((signal) => fetchEvents({ ...byProc, since: win.start, until: win.end + win.step, limit: 200 }, signal), key + '|' + win.key);
  const conns = useAsync((signal) => fetchEvents({ ...byProc, type: 'connect', since: win.start, until: win.end + win.step, limit: 500 }, signal), key + '|' + win.key);
  const opens = useAsync((signal) => fetchEvents({ ...byProc, type: 'open', since: win.start, until: win.end + win.step, limit: 2000 }, signal), key + '|' + win.key);
  const totals = useJoined(
    {
      cpu: `sum(rate(kscope_process_cpu_seconds_total{${sel}}[${win.spanStr}]))`,
      sys: `sum(rate(kscope_process_syscalls_total{${sel}}[${win.spanStr}]))`,
      err: `sum(rate(kscope_process_syscall_errors_total{${sel}}[${win.spanStr}]))`,
      rd: `sum(rate(kscope_fileio_read_bytes_total{${sel}}[${win.spanStr}]))`,
      wr: `sum(rate(kscope_fileio_write_bytes_total{${sel}}[${win.spanStr}]))`,
      opens: `sum(rate(kscope_fileio_opens_total{${sel}}[${win.spanStr}]))`,
      openErr: `sum(rate(kscope_fileio_open_errors_total{${sel}}[${win.spanStr}]))`,
    },
    [],
    win.end,
    key + win.key,
  );
  const syscalls = useJoined(
    {
      rate: `sum by (syscall) (rate(kscope_process_syscalls_total{${sel}}[${win.spanStr}]))`,
      calls: `sum by (syscall) (increase(kscope_process_syscalls_total{${sel}}[${win.spanStr}]))`,
      err: `sum by (syscall) (rate(kscope_process_syscall_errors_total{${sel}}[${win.spanStr}]))`,
    },
    ['syscall'],
    win.end,
    key + win.key,
  );
  const openErrs = useJoined({ rate: `sum by (errno) (rate(kscope_fileio_open_errors_total{${sel}}[${win.spanStr}]))` }, ['errno'], win.end, key + win.key);
  const t = totals.data?.[0] ?? {};
  const a = anc.data;
  const latest = a?.execs[a.execs.length - 1] ?? recent.data?.events[recent.data.events.length - 1];
  const comm = latest?.comm ?? '';
  // Profiles are stored by pid: keep the flame graph to the process's
  // lifetime within the range, so a reused pid's samples stay out.
  const lifeFrom = latest?.start_time ? Math.max(win.start, Math.floor(Date.parse(latest.start_time) / 1000)) : win.start;
  const lifeTo = a?.exit ? Math.min(win.end, Math.ceil(Date.parse(a.exit.time) / 1000)) : win.end;
  const files = useMemo(() => {
    const m = new Map<string, { path: string; n: number; errors: number; last: string; flags: string }>();
    for (const e of opens.data?.events ?? []) {
      let r = m.get(e.path);
      if (!r) m.set(e.path, (r = { path: e.path, n: 0, errors: 0, last: e.time, flags: e.flags }));
      r.n++;
      if (e.error) r.errors++;
      r.last = e.time;
    }
    return [...m.values()];
  }, [opens.data]);

  return (
    <div class="page">
      <section class="panel proc-head" data-testid="process-head">
        <div class="proc-title">
          <h2 data-testid="process-comm">{comm || 'pid ' + pid}</h2>
          <span class="muted" data-testid="process-id">
            pid {pid}
            {latest?.start_time && <> · started {fmtTime(Date.parse(latest.start_time), true)}</>}
          </span>
          {a?.exit ? (
            <Badge kind={a.exit.signal || a.exit.exit_code ? 'bad' : 'muted'}>
              exited {fmtTime(Date.parse(a.exit.time), true)} · {summary(a.exit).text}
            </Badge>
          ) : latest ? (
            <Badge kind="ok">no exit recorded</Badge>
          ) : null}
          {latest && (
            <span class="muted" data-testid="process-place" title={placeOf(latest).title}>
              uid {latest.uid}
              {placeOf(latest).text && <> · {placeOf(latest).text}</>}
              {latest.image && <> · image {latest.image}</>}
            </span>
          )}
        </div>
        <div class="ancestry" data-testid="ancestry">
          <span class="label">Ancestry</span>
          {anc.loading && !a && <span class="muted">…</span>}
          {a?.chain.map((x) => (
            <span class="anc" key={x.pid + '/' + x.start}>
              <Link href={procHref(x.pid, x.start)} title={x.exec ? summary(x.exec).text : ''}>
                {x.comm || '?'} <span class="muted">{x.pid}</span>
              </Link>
              <span class="sep">›</span>
            </span>
          ))}
          <span class="anc self">
            {comm || '?'} <span class="muted">{pid}</span>
          </span>
        </div>
        {a && a.execs.length > 0 && (
          <div class="execs" data-testid="process-execs">
            {a.execs.map((e) => (
              <div class="exec-line" key={e.time}>
                <span class="muted">{fmtTime(Date.parse(e.time), true)}</span> <code>{summary(e, kindOf(ks, e.type)).text}</code>
              </div>
            ))}
          </div>
        )}
        {a && a.children.length > 0 && (
          <div class="children">
            <span class="label">Started</span>
            {a.children.slice(-12).map((c) => (
              <Link key={c.time + c.pid} href={eventProcHref(c)} class="chip">
                {c.comm} <span class="muted">{c.pid}</span>
              </Link>
            ))}
            {a.children.length > 12 && <span class="muted">+{a.children.length - 12}</span>}
          </div>
        )}
      </section>

      <div class="stats">
        <Stat title="CPU" expr={`sum(rate(kscope_process_cpu_seconds_total{${sel}}[${rw}]))`} unit="cores" win={win} testid="pstat-cpu" />
        <Stat title="Syscalls" expr={`sum(rate(kscope_process_syscalls_total{${sel}}[${rw}]))`} unit="ops/s" win={win} color="#73bf69" testid="pstat-syscalls" />
        <Stat title="Syscall errors" expr={`sum(rate(kscope_process_syscall_errors_total{${sel}}[${rw}]))`} unit="ops/s" win={win} color="#f2495c" />
        <Stat title="File read" expr={`sum(rate(kscope_fileio_read_bytes_total{${sel}}[${rw}]))`} unit="bytes/s" win={win} color="#8ab8ff" />
        <Stat title="File write" expr={`sum(rate(kscope_fileio_write_bytes_total{${sel}}[${rw}]))`} unit="bytes/s" win={win} color="#ff9830" />
        <Stat title="Opens" expr={`sum(rate(kscope_fileio_opens_total{${sel}}[${rw}]))`} unit="ops/s" win={win} color="#b877d9" />
        <Stat title="Net in" expr={`sum(rate(kscope_process_net_bytes_total{${sel},direction="received"}[${rw}]))`} unit="bytes/s" win={win} color="#5794f2" testid="pstat-netin" hint="bytes received on IPv4/IPv6 sockets; – when the process is outside the top K" />
        <Stat title="Net out" expr={`sum(rate(kscope_process_net_bytes_total{${sel},direction="sent"}[${rw}]))`} unit="bytes/s" win={win} color="#fade2a" testid="pstat-netout" hint="bytes sent on IPv4/IPv6 sockets; – when the process is outside the top K" />
      </div>

      <div class="grid">
        <Panel title="CPU" sub="on-CPU time, 100% = one core" actions={<QueryLink expr={`rate(kscope_process_cpu_seconds_total{${sel}}[${rw}])`} />}>
          <Chart queries={[{ expr: `sum(rate(kscope_process_cpu_seconds_total{${sel}}[${rw}]))`, legend: () => 'cpu' }]} win={win} unit="cores" testid="proc-cpu" />
        </Panel>
        <Panel title="Syscalls" sub="per second; the 8 most called and the rest" actions={<QueryLink expr={`sum by (syscall) (rate(kscope_process_syscalls_total{${sel}}[${rw}]))`} />}>
          <Chart queries={[{ expr: `sum by (syscall) (rate(kscope_process_syscalls_total{${sel}}[${rw}]))`, legend: (m) => m.syscall }]} win={win} unit="ops/s" stacked maxSeries={8} testid="proc-syscalls" />
        </Panel>
        <Panel title="File I/O" sub="bytes per second on regular files">
          <Chart
            queries={[
              { expr: `sum(rate(kscope_fileio_read_bytes_total{${sel}}[${rw}]))`, legend: () => 'read' },
              { expr: `sum(rate(kscope_fileio_write_bytes_total{${sel}}[${rw}]))`, legend: () => 'write' },
            ]}
            win={win}
            unit="bytes/s"
            testid="proc-fileio"
          />
        </Panel>
        <Panel
          title="Syscalls in the range"
          sub="the (pid, syscall) pairs in the top K: this process's rarer syscalls are summed, with every process's, in the “other” series"
          testid="proc-syscall-table"
        >
          <Table
            rows={(syscalls.data ?? []) as any[]}
            rowKey={(r) => r.syscall}
            sort="calls"
            limit={12}
            empty={syscalls.loading ? 'Loading…' : 'No syscalls counted for this process (it may be outside the top K)'}
            cols={[
              { key: 'syscall', title: 'Syscall', value: (r) => r.syscall, render: (r) => <code>{r.syscall}</code> },
              { key: 'calls', title: 'Calls', value: (r) => r.calls, unit: 'count', bar: true },
              { key: 'rate', title: 'Rate', value: (r) => r.rate, unit: 'ops/s' },
              { key: 'err', title: 'Errors', value: (r) => r.err, unit: 'ops/s' },
            ]}
          />
        </Panel>
        <Panel title="Files" sub={files.length ? 'paths opened (open events)' : 'per-process file I/O counters'} testid="proc-files">
          {files.length > 0 ? (
            <Table
              rows={files}
              rowKey={(r) => r.path}
              sort="n"
              limit={15}
              cols={[
                { key: 'path', title: 'Path', value: (r) => r.path, render: (r) => <code class="path">{r.path}</code> },
                { key: 'n', title: 'Opens', value: (r) => r.n, unit: 'count', bar: true },
                { key: 'errors', title: 'Failed', value: (r) => r.errors, unit: 'count' },
              ]}
            />
          ) : (
            <>
              <dl class="kv">
                <dt>Read</dt>
                <dd>{fmt(t.rd ?? NaN, 'bytes/s')}</dd>
                <dt>Written</dt>
                <dd>{fmt(t.wr ?? NaN, 'bytes/s')}</dd>
                <dt>Opens</dt>
                <dd>{fmt(t.opens ?? NaN, 'ops/s')}</dd>
                <dt>Failed opens</dt>
                <dd>
                  {fmt(t.openErr ?? NaN, 'ops/s')}
                  {(openErrs.data ?? []).map((r: any) => (
                    <Badge key={r.errno} kind="bad">
                      {r.errno} {fmt(r.rate, 'ops/s')}
                    </Badge>
                  ))}
                </dd>
              </dl>
              <div class="muted small">Paths appear here when the agent's open collector is on.</div>
            </>
          )}
        </Panel>
        <Panel title="Connections" sub="connect() calls in the range" testid="proc-conns">
          <Table
            rows={[...(conns.data?.events ?? [])].reverse()}
            rowKey={(r) => r.time + r.tid + r.dport}
            sort="time"
            limit={15}
            empty={conns.loading ? 'Loading…' : 'No connects in this range'}
            cols={[
              { key: 'time', title: 'Time', value: (r) => r.time, render: (r) => fmtTime(Date.parse(r.time)) },
              { key: 'proto', title: 'Proto', value: (r) => r.proto },
              { key: 'dst', title: 'Destination', value: (r) => `${r.daddr}:${r.dport}`, render: (r) => <code>{String(r.daddr).includes(':') ? `[${r.daddr}]:${r.dport}` : `${r.daddr}:${r.dport}`}</code> },
              { key: 'res', title: 'Result', value: (r) => r.error ?? 'ok', render: (r) => (r.error ? <Badge kind="bad">{r.error}</Badge> : <Badge kind="ok">ok</Badge>) },
              { key: 'lat', title: 'Latency', value: (r) => r.latency_ns, align: 'right', render: (r) => (r.latency_ns ? fmtSeconds(r.latency_ns / 1e9) : '–') },
            ]}
          />
        </Panel>
        <Panel
          title={(offcpu ? 'Off-CPU' : 'CPU') + ' flame graph'}
          sub={offcpu ? `where pid ${pid} waited off CPU in the range` : `on-CPU stacks of pid ${pid} in the range`}
          span={3}
          testid="proc-flame"
          actions={
            <>
              <div class="seg">
                <button class={offcpu ? '' : 'active'} onClick={() => setParams({ flame: undefined })}>
                  On-CPU
                </button>
                <button class={offcpu ? 'active' : ''} onClick={() => setParams({ flame: 'offcpu' })}>
                  Off-CPU
                </button>
              </div>
              <Link class="btn" href={`/profiles?target=${pid}${offcpu ? '&type=offcpu' : ''}`}>
                Open in Profiles
              </Link>
            </>
          }
        >
          <ProfileView q={{ pid: String(pid), type: offcpu ? 'offcpu' : 'cpu', since: lifeFrom, until: Math.max(lifeFrom, lifeTo) }} testid="proc-profile" />
        </Panel>
        <Panel title="Recent events" sub="every event of this process in the range, newest first" span={3} testid="proc-events">
          <EventList events={[...(recent.data?.events ?? [])].reverse()} testid="proc-event-list" empty={recent.loading ? 'Loading…' : 'No events of this process in the range'} />
        </Panel>
      </div>
      {!latest && !recent.loading && <div class="muted small">No events recorded for pid {pid}: its metrics may still be shown above.</div>}
    </div>
  );
}
