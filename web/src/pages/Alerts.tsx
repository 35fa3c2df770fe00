import { useEffect, useState } from 'preact/hooks';
import { activeAlerts, labelText, ruleCounts, sortRules, type Rule, type RuleGroup } from '../alerts';
import { ruleGroups } from '../api';
import { Badge, Empty, ErrorBox, Panel, QueryLink, Table } from '../components/ui';
import { fmtAgo, fmtSeconds } from '../format';
import { useAsync } from '../hooks';

const stateKind = { firing: 'bad', pending: 'warn', inactive: 'ok', unknown: 'muted' } as const;

function RuleState(p: { rule: Rule }) {
  const r = p.rule;
  if (r.health === 'err') return <Badge kind="bad" title={r.lastError}>error</Badge>;
  if (r.type === 'recording') return <Badge kind="info">recording</Badge>;
  return <Badge kind={stateKind[r.state] ?? 'muted'}>{r.state}</Badge>;
}

// Alerts lists the agent's firing and pending alerts and its rules, as
// the agent evaluates them (rule_files in its configuration).
export function Alerts() {
  // Rules evaluate on their own schedule: refresh every 15 s while shown.
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const t = window.setInterval(() => {
      if (!document.hidden) setTick((n) => n + 1);
    }, 15_000);
    return () => window.clearInterval(t);
  }, []);
  const res = useAsync((signal) => ruleGroups(signal), 'rules' + tick);
  const groups: RuleGroup[] = res.data ?? [];
  const active = activeAlerts(groups);
  const n = ruleCounts(groups);
  if (res.data && groups.length === 0)
    return (
      <div class="page" data-testid="alerts-page">
        <Empty>
          No rules: the agent evaluates Prometheus rule files named by <code>rule_files</code> in its configuration, for example the shipped{' '}
          <code>rules/kscope.rules.yml</code>.
        </Empty>
      </div>
    );
  return (
    <div class="page" data-testid="alerts-page">
      <ErrorBox error={res.error} />
      <div class="facts" data-testid="alerts-counts">
        <span>
          <Badge kind={n.firing ? 'bad' : 'muted'}>{n.firing} firing</Badge>
        </span>
        <span>
          <Badge kind={n.pending ? 'warn' : 'muted'}>{n.pending} pending</Badge>
        </span>
        <span>{n.inactive} inactive</span>
        <span>{n.recording} recording</span>
        {n.failing > 0 && (
          <span>
            <Badge kind="bad">{n.failing} failing</Badge>
          </span>
        )}
      </div>
      <div class="grid">
        <Panel title="Active alerts" sub="firing, then pending (waiting out their for: duration)" span={3} testid="alerts-active">
          <Table
            rows={active}
            rowKey={(r) => r.key}
            sort="state"
            desc={false}
            empty="No alert is firing or pending"
            testid="alerts-table"
            cols={[
              { key: 'state', title: 'State', value: (r) => (r.alert.state === 'firing' ? 0 : 1), render: (r) => <Badge kind={stateKind[r.alert.state]}>{r.alert.state}</Badge> },
              { key: 'name', title: 'Alert', value: (r) => r.rule.name, render: (r) => <b>{r.rule.name}</b> },
              { key: 'labels', title: 'Labels', value: (r) => labelText(r.alert.labels), render: (r) => <code>{labelText(r.alert.labels)}</code> },
              { key: 'summary', title: 'Summary', value: (r) => r.alert.annotations.summary ?? '' },
              { key: 'value', title: 'Value', value: (r) => Number(r.alert.value), render: (r) => Number(r.alert.value).toPrecision(4).replace(/\.?0+$/, '') },
              { key: 'since', title: 'Active since', value: (r) => (r.alert.activeAt ? Date.parse(r.alert.activeAt) : 0), render: (r) => (r.alert.activeAt ? fmtAgo(Date.parse(r.alert.activeAt)) : '') },
            ]}
          />
        </Panel>
        {groups.map((g) => (
          <Panel
            key={g.file + '/' + g.name}
            title={g.name}
            sub={
              <span>
                <code>{g.file}</code> · every {fmtSeconds(g.interval)}
                {g.lastEvaluation.startsWith('0001') ? ' · not evaluated yet' : ` · last ${fmtAgo(Date.parse(g.lastEvaluation))}`}
              </span>
            }
            span={3}
            testid={'rule-group-' + g.name}
          >
            <Table
              rows={sortRules(g.rules)}
              rowKey={(r) => r.type + '/' + r.name + '/' + labelText(r.labels, [])}
              sort="order"
              desc={false}
              cols={[
                { key: 'order', title: 'State', value: (r) => sortRules(g.rules).indexOf(r), render: (r) => <RuleState rule={r} /> },
                { key: 'name', title: 'Rule', value: (r) => r.name, render: (r) => <b>{r.name}</b> },
                {
                  key: 'query',
                  title: 'Expression',
                  value: (r) => r.query,
                  render: (r) => (
                    <span class="mono">
                      {r.query} <QueryLink expr={r.query} />
                    </span>
                  ),
                },
                { key: 'for', title: 'For', value: (r) => (r.type === 'alerting' ? r.duration : 0), render: (r) => (r.type === 'alerting' && r.duration ? fmtSeconds(r.duration) : '') },
                { key: 'labels', title: 'Labels', value: (r) => labelText(r.labels, []), render: (r) => <code>{labelText(r.labels, [])}</code> },
                { key: 'error', title: 'Last error', value: (r) => r.lastError ?? '', render: (r) => (r.lastError ? <span class="bad">{r.lastError}</span> : '') },
              ]}
            />
          </Panel>
        ))}
      </div>
    </div>
  );
}
