import { useMemo } from 'preact/hooks';
import { events as fetchEvents, type KEvent } from '../api';
import { Plot, type ChartData } from '../components/Chart';
import { Badge, ErrorBox, Link, Panel, Table, type Column } from '../components/ui';
import { fmtCount, fmtTimeMs } from '../format';
import { useAsync } from '../hooks';
import { eventProcHref, procHref } from '../proc';
import { alertSeries, ancestry, distinct, filterAlerts, outcomeKind, severityKind, target, user } from '../security';
import { setParams, useRoute, useWindow } from '../store';

const maxAlerts = 5000;

// Security shows the policy alerts the agent stored (docs/policy.md): how
// many over time by severity, and each with its rule, action and outcome,
// the process and its ancestry.
export function Security() {
  const r = useRoute();
  const rule = r.params.get('rule') ?? '';
  const severity = r.params.get('severity') ?? '';
  const win = useWindow(120);
  const st = useAsync((signal) => fetchEvents({ type: 'alert', since: win.start, until: win.end + win.step, limit: maxAlerts }, signal), win.key);
  const all = st.data?.events ?? [];
  const shown = useMemo(() => filterAlerts(all, { rule, severity }).reverse(), [st.data, rule, severity]);
  const chart = useMemo<ChartData | undefined>(() => (st.data ? alertSeries(shown, win.start, win.end, win.step) : undefined), [shown]);
  const rules = useMemo(() => distinct(all, 'rule'), [st.data]);
  const sevs = useMemo(() => distinct(all, 'severity'), [st.data]);
  const failed = shown.filter((e) => outcomeKind(e.outcome) === 'bad').length;

  const cols: Column<KEvent>[] = [
    { key: 'time', title: 'Time', value: (e) => e.time, render: (e) => <span title={e.time}>{fmtTimeMs(Date.parse(e.time))}</span>, width: '7em' },
    { key: 'rule', title: 'Rule', value: (e) => e.rule, render: (e) => <span data-testid="alert-rule">{e.rule}</span> },
    { key: 'severity', title: 'Severity', value: (e) => e.severity, render: (e) => <Badge kind={severityKind(e.severity)}>{e.severity}</Badge> },
    {
      key: 'outcome',
      title: 'Action → outcome',
      value: (e) => e.outcome,
      render: (e) => (
        <span data-testid="alert-outcome">
          {e.action}
          {e.mode === 'audit' ? ' (audit)' : ''} → <Badge kind={outcomeKind(e.outcome)}>{e.outcome}</Badge>
        </span>
      ),
    },
    { key: 'target', title: 'Binary / file / destination', value: (e) => target(e), render: (e) => <code class="wrap">{target(e)}</code> },
    { key: 'argv', title: 'argv', value: (e) => (e.argv ?? []).join(' '), render: (e) => <code class="wrap">{(e.argv ?? []).join(' ')}</code> },
    { key: 'user', title: 'User', value: (e) => user(e.uid) },
    {
      key: 'pid',
      title: 'Process',
      value: (e) => e.pid,
      render: (e) => (
        <Link href={eventProcHref(e)} testid="alert-pid">
          {e.comm} {e.pid}
        </Link>
      ),
    },
    {
      key: 'ancestry',
      title: 'Ancestry',
      value: (e) => ancestry(e).map((a) => a.name).join(' → '),
      render: (e) => {
        const chain = ancestry(e);
        if (chain.length === 0) return <span class="muted">–</span>;
        return (
          <span class="chain" data-testid="alert-ancestry">
            {chain.map((a, i) => (
              <span key={i}>
                {i > 0 && ' → '}
                {a.pid ? (
                  <Link href={procHref(a.pid, a.start_ns)} title={(a.argv ?? []).join(' ')}>
                    {a.name}
                  </Link>
                ) : (
                  a.name
                )}
              </span>
            ))}
          </span>
        );
      },
    },
  ];

  return (
    <div class="page">
      <div class="toolbar" data-testid="alert-filters">
        <select class="select" value={rule} data-testid="filter-rule" onChange={(e) => setParams({ rule: (e.target as HTMLSelectElement).value || undefined })}>
          <option value="">All rules</option>
          {rules.map((n) => (
            <option key={n} value={n}>
              {n}
            </option>
          ))}
        </select>
        <select class="select" value={severity} data-testid="filter-severity" onChange={(e) => setParams({ severity: (e.target as HTMLSelectElement).value || undefined })}>
          <option value="">All severities</option>
          {sevs.map((n) => (
            <option key={n} value={n}>
              {n}
            </option>
          ))}
        </select>
      </div>
      <Panel
        title="Alerts over time"
        testid="alerts-chart"
        sub={st.data ? `${fmtCount(shown.length)} ${shown.length === 1 ? 'alert' : 'alerts'} in the range, by severity${failed ? `; ${failed} enforcement failed` : ''}` : 'alerts per step, by severity'}
      >
        <Plot data={chart} loading={st.loading} error={st.error} unit="count" stacked bars height={120} testid="alerts-plot" />
      </Panel>
      <Panel
        title="Alerts"
        testid="alerts-panel"
        sub={st.data?.truncated ? `The newest ${fmtCount(maxAlerts)} of the range: narrow it to see older ones` : 'newest first; policies in the agent: docs/policy.md'}
      >
        <ErrorBox error={st.error} />
        <Table
          rows={shown}
          cols={cols}
          sort="time"
          desc
          rowKey={(e) => e.time + ':' + e.tid + ':' + e.rule}
          testid="alerts-table"
          empty={st.loading ? 'Loading…' : 'No alerts in this range: the agent runs policies listed under its policies key'}
        />
      </Panel>
    </div>
  );
}
