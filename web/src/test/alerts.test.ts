import { describe, expect, it } from 'vitest';
import { activeAlerts, labelText, ruleCounts, sortRules, type AlertingRule, type RecordingRule, type RuleGroup } from '../alerts';

const never = '0001-01-01T00:00:00Z';

function alerting(name: string, state: AlertingRule['state'], alerts: AlertingRule['alerts'], health: AlertingRule['health'] = 'ok'): AlertingRule {
  return { type: 'alerting', name, query: 'x > 1', state, duration: 60, keepFiringFor: 0, labels: {}, annotations: {}, alerts, health, evaluationTime: 0, lastEvaluation: never };
}

const recording: RecordingRule = { type: 'recording', name: 'x:sum', query: 'sum(x)', labels: {}, health: 'err', lastError: 'boom', evaluationTime: 0, lastEvaluation: never };

// As /api/v1/rules answers: one group with a recording rule (failing), a
// firing rule with two alerts, a pending one and an inactive one.
const groups: RuleGroup[] = [
  {
    name: 'kscope-host',
    file: '/etc/kscope/rules/kscope.rules.yml',
    interval: 60,
    limit: 0,
    evaluationTime: 0,
    lastEvaluation: never,
    rules: [
      recording,
      alerting('KscopeOOMKill', 'inactive', []),
      alerting('KscopeCollectorDown', 'firing', [
        { labels: { alertname: 'KscopeCollectorDown', collector: 'tcp', severity: 'warning' }, annotations: { summary: 'tcp down' }, state: 'firing', activeAt: '2026-12-06T08:00:00Z', value: '0e+00' },
        { labels: { alertname: 'KscopeCollectorDown', collector: 'dns', severity: 'warning' }, annotations: {}, state: 'firing', activeAt: '2026-12-06T07:00:00Z', value: '0e+00' },
      ]),
      alerting('KscopeRingBufferLoss', 'pending', [
        { labels: { alertname: 'KscopeRingBufferLoss', collector: 'exec' }, annotations: {}, state: 'pending', activeAt: '2026-12-06T06:00:00Z', value: '3e+00' },
      ]),
    ],
  },
];

describe('alerts', () => {
  it('lists firing alerts before pending ones, the longest active first', () => {
    expect(activeAlerts(groups).map((r) => [r.alert.state, r.rule.name, r.alert.labels.collector])).toEqual([
      ['firing', 'KscopeCollectorDown', 'dns'],
      ['firing', 'KscopeCollectorDown', 'tcp'],
      ['pending', 'KscopeRingBufferLoss', 'exec'],
    ]);
    expect(activeAlerts([])).toEqual([]);
  });
  it('gives every alert its own key', () => {
    const keys = activeAlerts(groups).map((r) => r.key);
    expect(new Set(keys).size).toBe(keys.length);
  });
  it('counts rules by state, and the failing ones', () => {
    expect(ruleCounts(groups)).toEqual({ firing: 1, pending: 1, inactive: 1, recording: 1, failing: 1 });
  });
  it("puts a group's firing and pending rules first, the rest in file order", () => {
    expect(sortRules(groups[0].rules).map((r) => r.name)).toEqual(['KscopeCollectorDown', 'KscopeRingBufferLoss', 'x:sum', 'KscopeOOMKill']);
  });
  it('prints labels sorted, without the alert name', () => {
    expect(labelText({ severity: 'warning', alertname: 'A', collector: 'tcp' })).toBe('collector="tcp", severity="warning"');
    expect(labelText({ b: '2', a: '1' }, [])).toBe('a="1", b="2"');
  });
});
