import { events as fetchEvents, queryVector, type InstantSample } from '../api';
import { Chart } from '../components/Chart';
import { Panel, QueryLink, Table, useJoined, type Column } from '../components/ui';
import { fmt, fmtSeconds } from '../format';
import { useAsync } from '../hooks';
import { endpointRows, failingNames, filterRules, nameRows, slowestNames, type EndpointRow, type FilterRuleRow, type NameRow } from '../net';
import { useWindow, type Window } from '../store';

// The flows, dns and drops collectors are off by default: a panel says
// which collector fills it when it is empty.
const needs = (c: string) => `No data in this range: the ${c} collector fills this panel (collectors.${c}: true).`;

interface TalkerRow {
  comm: string;
  tx?: number;
  rx?: number;
  ptx?: number;
  prx?: number;
}

const talkerCols: Column<TalkerRow>[] = [
  { key: 'comm', title: 'Command', value: (r) => r.comm, render: (r) => (r.comm === 'other' ? <span class="muted">other</span> : <span class="strong">{r.comm}</span>) },
  { key: 'tx', title: 'Sent', value: (r) => r.tx, unit: 'bytes/s', bar: true, hint: 'payload bytes sent per second' },
  { key: 'rx', title: 'Received', value: (r) => r.rx, unit: 'bytes/s', bar: true, hint: 'payload bytes received per second' },
  { key: 'ptx', title: 'Packets out', value: (r) => r.ptx, unit: 'ops/s' },
  { key: 'prx', title: 'Packets in', value: (r) => r.prx, unit: 'ops/s' },
];

function TopTalkers(p: { win: Window }) {
  const s = p.win.spanStr;
  const by = 'sum by (comm)';
  const st = useJoined(
    {
      tx: `${by} (rate(kscope_net_flow_bytes_total{direction="sent"}[${s}]))`,
      rx: `${by} (rate(kscope_net_flow_bytes_total{direction="received"}[${s}]))`,
      ptx: `${by} (rate(kscope_net_flow_packets_total{direction="sent"}[${s}]))`,
      prx: `${by} (rate(kscope_net_flow_packets_total{direction="received"}[${s}]))`,
    },
    ['comm'],
    p.win.end,
    p.win.key,
  );
  const rows = ((st.data ?? []) as TalkerRow[]).map((r) => ({ ...r, total: (r.tx ?? 0) + (r.rx ?? 0) }));
  return (
    <>
      {st.error && <div class="error-box">{st.error}</div>}
      <Table rows={rows} cols={talkerCols} sort="tx" rowKey={(r) => r.comm} testid="talkers-table" limit={15} expandable empty={st.loading ? 'Loading…' : needs('flows')} />
    </>
  );
}

const endpointCols: Column<EndpointRow>[] = [
  { key: 'comm', title: 'Command', value: (r) => r.comm, render: (r) => <span class="strong">{r.comm}</span> },
  { key: 'arrow', title: '', value: () => '', render: () => <span class="muted">→</span>, width: '20px' },
  { key: 'remote', title: 'Remote endpoint', value: (r) => r.remote, render: (r) => <code>{r.remote}</code> },
  { key: 'proto', title: 'Proto', value: (r) => r.proto, width: '60px' },
  { key: 'flows', title: 'Flows', value: (r) => r.flows, align: 'right', hint: 'flows that ended in the range' },
  { key: 'sent', title: 'Sent', value: (r) => r.sent, unit: 'bytes', bar: true },
  { key: 'received', title: 'Received', value: (r) => r.received, unit: 'bytes', bar: true },
  {
    key: 'errors',
    title: 'Errors',
    value: (r) => r.errors,
    align: 'right',
    hint: 'TCP segments retransmitted plus connects that failed',
    render: (r) =>
      r.errors ? (
        <span class="bad" title={`${r.retransmits} retransmits, ${r.failed} failed connects`}>
          {r.errors}
        </span>
      ) : (
        <span class="muted">0</span>
      ),
  },
];

function Endpoints(p: { win: Window }) {
  const st = useAsync(
    async (signal) => {
      const q = { since: p.win.start, until: p.win.end + p.win.step, limit: 5000 };
      const [flows, connects] = await Promise.all([
        fetchEvents({ ...q, type: 'flow' }, signal),
        fetchEvents({ ...q, type: 'connect' }, signal).catch(() => ({ events: [], truncated: false })),
      ]);
      return { rows: endpointRows(flows.events, connects.events), truncated: flows.truncated };
    },
    'endpoints' + p.win.key,
  );
  return (
    <>
      {st.error && <div class="error-box">{st.error}</div>}
      {st.data?.truncated && <div class="muted small">The newest 5,000 flows of the range.</div>}
      <Table
        rows={st.data?.rows ?? []}
        cols={endpointCols}
        sort="sent"
        rowKey={(r) => r.comm + ' ' + r.proto + ' ' + r.remote}
        testid="endpoints-table"
        limit={20}
        expandable
        empty={st.loading ? 'Loading…' : needs('flows')}
      />
    </>
  );
}

const nameCols = (kind: 'slow' | 'fail'): Column<NameRow>[] => [
  { key: 'qname', title: 'Name', value: (r) => r.qname, render: (r) => <code>{r.qname}</code> },
  { key: 'qtype', title: 'Type', value: (r) => r.qtype, width: '60px' },
  { key: 'queries', title: 'Queries', value: (r) => r.queries, align: 'right' },
  kind === 'slow'
    ? { key: 'maxNs', title: 'Slowest', value: (r) => r.maxNs, align: 'right', render: (r) => fmtSeconds(r.maxNs / 1e9) }
    : { key: 'failed', title: 'Failed', value: (r) => r.failed, align: 'right', render: (r) => <span class="bad">{r.failed}</span> },
  kind === 'slow'
    ? { key: 'avgNs', title: 'Average', value: (r) => r.avgNs, align: 'right', render: (r) => fmtSeconds(r.avgNs / 1e9) }
    : { key: 'rcodes', title: 'Rcode', value: (r) => r.rcodes.join(', ') },
  { key: 'comms', title: 'Asked by', value: (r) => r.comms.join(', ') },
];

function DNS(p: { win: Window }) {
  const st = useAsync(
    async (signal) => nameRows((await fetchEvents({ type: 'dns', since: p.win.start, until: p.win.end + p.win.step, limit: 5000 }, signal)).events),
    'dns' + p.win.key,
  );
  const rows = st.data ?? [];
  const empty = st.loading ? 'Loading…' : needs('dns');
  return (
    <>
      {st.error && <div class="error-box">{st.error}</div>}
      <h3 class="sub-title">Failing names</h3>
      <Table rows={failingNames(rows, 50)} cols={nameCols('fail')} sort="failed" rowKey={(r) => r.qname + r.qtype} testid="dns-failing" limit={10} expandable empty={empty} />
      <h3 class="sub-title">Slowest names</h3>
      <Table rows={slowestNames(rows, 50)} cols={nameCols('slow')} sort="maxNs" rowKey={(r) => r.qname + r.qtype} testid="dns-slowest" limit={10} expandable empty={empty} />
    </>
  );
}

interface DropRow {
  reason: string;
  n?: number;
  rate?: number;
}

const dropCols: Column<DropRow>[] = [
  { key: 'reason', title: 'Reason', value: (r) => r.reason, render: (r) => <code>{r.reason}</code> },
  { key: 'n', title: 'Drops', value: (r) => r.n, align: 'right', render: (r) => fmt(Math.round(r.n ?? 0), 'count'), hint: 'packets dropped in the range' },
  { key: 'rate', title: 'Rate', value: (r) => r.rate, unit: 'ops/s', bar: true },
];

function Drops(p: { win: Window }) {
  const s = p.win.spanStr;
  const st = useJoined(
    {
      n: `sum by (reason) (increase(kscope_packet_drops_total[${s}]))`,
      rate: `sum by (reason) (rate(kscope_packet_drops_total[${s}]))`,
    },
    ['reason'],
    p.win.end,
    p.win.key,
  );
  const rows = ((st.data ?? []) as DropRow[]).filter((r) => (r.n ?? 0) > 0);
  return (
    <>
      {st.error && <div class="error-box">{st.error}</div>}
      <Table rows={rows} cols={dropCols} sort="n" rowKey={(r) => r.reason} testid="drops-table" limit={15} expandable empty={st.loading ? 'Loading…' : needs('drops')} />
    </>
  );
}

const ruleCols: Column<FilterRuleRow>[] = [
  { key: 'filter', title: 'Filter', value: (r) => r.filter, render: (r) => <span class="strong">{r.filter}</span> },
  {
    key: 'rule',
    title: 'Rule',
    value: (r) => r.rule,
    render: (r) => (r.rule === 'default' ? <span class="muted" title="the packets no rule matched">default</span> : <code>{r.rule}</code>),
  },
  { key: 'packets', title: 'Packets', value: (r) => r.packets, align: 'right', render: (r) => fmt(r.packets, 'count'), hint: 'packets the rule matched since it was applied' },
  { key: 'bytes', title: 'Bytes', value: (r) => r.bytes, unit: 'bytes', bar: true, hint: 'bytes of those packets, from the Ethernet header on' },
  {
    key: 'dropped',
    title: 'Dropped',
    value: (r) => r.dropped,
    align: 'right',
    hint: 'packets dropped; in audit mode, that would have been dropped (they passed)',
    render: (r) => (r.dropped ? <span class={r.audit ? 'warn' : 'bad'} title={r.audit ? 'would have been dropped (audit mode)' : 'dropped'}>{fmt(r.dropped, 'count')}{r.audit ? ' (audit)' : ''}</span> : <span class="muted">0</span>),
  },
  { key: 'droppedBytes', title: 'Dropped bytes', value: (r) => r.droppedBytes, unit: 'bytes' },
  { key: 'rate', title: 'Rate', value: (r) => r.rate, unit: 'ops/s', hint: 'packets per second over the range' },
];

function FilterRules(p: { win: Window }) {
  const st = useAsync(async (signal) => {
    const at = p.win.end;
    const q = (e: string) => queryVector(e, at, signal).catch(() => [] as InstantSample[]);
    const [packets, bytes, rates, info] = await Promise.all([
      q('sum by (filter, rule, action) (kscope_net_filter_packets_total)'),
      q('sum by (filter, rule, action) (kscope_net_filter_bytes_total)'),
      q(`sum by (filter, rule) (rate(kscope_net_filter_packets_total[${p.win.spanStr}]))`),
      q('kscope_net_filter_rules'),
    ]);
    return filterRules(packets, bytes, rates, info);
  }, 'filters' + p.win.key);
  const filters = st.data?.filters ?? [];
  return (
    <>
      {st.error && <div class="error-box">{st.error}</div>}
      {filters.map((f) => (
        <div class="muted small" data-testid="filter-info" key={f.filter}>
          <span class="strong">{f.filter}</span> on <code>{f.iface}</code> {f.hook} ({f.attach}), {f.mode}, default {f.dflt}: {f.rules} rules, {f.matched} matched a packet
          {f.matched < f.rules ? ' (rules that never matched are not listed)' : ''}
        </div>
      ))}
      <Table
        rows={st.data?.rules ?? []}
        cols={ruleCols}
        sort="packets"
        rowKey={(r) => r.filter + ' ' + r.rule}
        testid="filter-rules-table"
        limit={20}
        expandable
        empty={st.loading ? 'Loading…' : 'No kscope net filter is applied on this host (kscope net filter apply; docs/net.md).'}
      />
    </>
  );
}

export function Network() {
  const win = useWindow();
  const rw = win.rateStr;
  const q = {
    bytesBy: `sum by (comm) (rate(kscope_net_flow_bytes_total[${rw}]))`,
    dnsBy: `sum by (rcode) (rate(kscope_dns_requests_total[${rw}]))`,
    dnsP99: `histogram_quantile(0.99, sum by (le) (rate(kscope_dns_request_duration_seconds_bucket[${rw}])))`,
    dropsBy: `sum by (reason) (rate(kscope_packet_drops_total[${rw}]))`,
    filterBy: `sum by (filter, rule, action) (rate(kscope_net_filter_packets_total[${rw}]))`,
  };
  return (
    <div class="page">
      <div class="grid">
        <Panel title="Top talkers" sub={`payload bytes by command, sent and received, averaged over the range (${win.spanStr}); the top K keys, the rest “other”`} actions={<QueryLink expr={q.bytesBy} />} testid="panel-talkers">
          <TopTalkers win={win} />
        </Panel>
        <Panel title="Traffic by command" sub="payload bytes per second, sent and received; the 8 largest and the rest" actions={<QueryLink expr={q.bytesBy} />} testid="panel-traffic">
          <Chart queries={[{ expr: q.bytesBy, legend: (m) => m.comm }]} win={win} unit="bytes/s" stacked maxSeries={8} emptyText={needs('flows')} testid="chart-traffic" />
        </Panel>
        <Panel title="Process → remote endpoint" sub="flows that ended in the range, by command and remote endpoint: bytes each way and errors (retransmits, failed connects)" testid="panel-endpoints" span={2}>
          <Endpoints win={win} />
        </Panel>
        <Panel title="DNS" sub="queries in the range, from dns events: the names that failed (NXDOMAIN, SERVFAIL, timeout …) and the slowest answers" testid="panel-dns">
          <DNS win={win} />
        </Panel>
        <Panel title="DNS answers" sub="queries per second by response code, and the 99th percentile latency" actions={<QueryLink expr={q.dnsBy} />} testid="panel-dns-rates">
          <Chart queries={[{ expr: q.dnsBy, legend: (m) => m.rcode }]} win={win} unit="ops/s" stacked hideZero emptyText={needs('dns')} testid="chart-dns" />
          <Chart queries={[{ expr: q.dnsP99, legend: () => 'p99 latency' }]} win={win} unit="seconds" height={120} emptyText={needs('dns')} testid="chart-dns-p99" />
        </Panel>
        <Panel title="Drops by reason" sub="packets the kernel dropped in the range, by its drop reason" actions={<QueryLink expr={q.dropsBy} />} testid="panel-drops">
          <Drops win={win} />
        </Panel>
        <Panel title="Drops over time" sub="drops per second by reason" actions={<QueryLink expr={q.dropsBy} />} testid="panel-drops-rates">
          <Chart queries={[{ expr: q.dropsBy, legend: (m) => m.reason }]} win={win} unit="ops/s" stacked hideZero emptyText={needs('drops')} testid="chart-drops" />
        </Panel>
        <Panel title="Filter rules" sub="the rules of the kscope net filter filters applied on this host, with their packet and byte counters since each was applied" actions={<QueryLink expr={q.filterBy} />} testid="panel-filter-rules" span={2}>
          <FilterRules win={win} />
        </Panel>
      </div>
    </div>
  );
}
