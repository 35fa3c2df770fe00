// The agent's alerting rules and alerts, as /api/v1/rules and
// /api/v1/alerts answer (Prometheus's shapes), and how the Alerts page
// orders them.

export interface Alert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing' | 'inactive';
  activeAt?: string;
  keepFiringSince?: string;
  value: string;
}

export interface AlertingRule {
  type: 'alerting';
  name: string;
  query: string;
  state: 'pending' | 'firing' | 'inactive' | 'unknown';
  duration: number;
  keepFiringFor: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  alerts: Alert[] | null;
  health: 'ok' | 'err' | 'unknown';
  lastError?: string;
  evaluationTime: number;
  lastEvaluation: string;
}

export interface RecordingRule {
  type: 'recording';
  name: string;
  query: string;
  labels: Record<string, string>;
  health: 'ok' | 'err' | 'unknown';
  lastError?: string;
  evaluationTime: number;
  lastEvaluation: string;
}

export type Rule = AlertingRule | RecordingRule;

export interface RuleGroup {
  name: string;
  file: string;
  rules: Rule[];
  interval: number;
  limit: number;
  evaluationTime: number;
  lastEvaluation: string;
}

// An active alert with the rule it comes from.
export interface AlertRow {
  alert: Alert;
  rule: AlertingRule;
  group: string;
  key: string;
}

const stateRank: Record<string, number> = { firing: 0, pending: 1, inactive: 2, unknown: 3 };

// labelText prints labels as PromQL does, without alertname (the row
// says it), sorted by name.
export function labelText(labels: Record<string, string>, skip: string[] = ['alertname']): string {
  return Object.keys(labels)
    .filter((k) => !skip.includes(k))
    .sort()
    .map((k) => `${k}="${labels[k]}"`)
    .join(', ');
}

// activeAlerts lists the firing alerts, then the pending ones, each the
// longest active first, then by name and labels.
export function activeAlerts(groups: RuleGroup[]): AlertRow[] {
  const rows: AlertRow[] = [];
  for (const g of groups)
    for (const r of g.rules) {
      if (r.type !== 'alerting') continue;
      for (const a of r.alerts ?? []) {
        if (a.state !== 'firing' && a.state !== 'pending') continue;
        rows.push({ alert: a, rule: r, group: g.name, key: g.file + '\u0000' + g.name + '\u0000' + r.name + '\u0000' + labelText(a.labels, []) });
      }
    }
  const at = (r: AlertRow) => (r.alert.activeAt ? Date.parse(r.alert.activeAt) : Infinity);
  rows.sort(
    (a, b) =>
      stateRank[a.alert.state] - stateRank[b.alert.state] ||
      at(a) - at(b) ||
      a.rule.name.localeCompare(b.rule.name) ||
      labelText(a.alert.labels).localeCompare(labelText(b.alert.labels)),
  );
  return rows;
}

// ruleCounts counts the alerting rules by state and the rules whose last
// evaluation failed.
export function ruleCounts(groups: RuleGroup[]): { firing: number; pending: number; inactive: number; recording: number; failing: number } {
  const c = { firing: 0, pending: 0, inactive: 0, recording: 0, failing: 0 };
  for (const g of groups)
    for (const r of g.rules) {
      if (r.health === 'err') c.failing++;
      if (r.type === 'recording') c.recording++;
      else if (r.state === 'firing') c.firing++;
      else if (r.state === 'pending') c.pending++;
      else c.inactive++;
    }
  return c;
}

// sortRules puts a group's firing and pending alerting rules first, then
// the others in file order (the order the group evaluates them).
export function sortRules(rules: Rule[]): Rule[] {
  const rank = (r: Rule) => (r.type === 'alerting' ? Math.min(stateRank[r.state] ?? 3, 2) : 2);
  return rules.map((r, i) => [r, i] as const).sort((a, b) => rank(a[0]) - rank(b[0]) || a[1] - b[1]).map(([r]) => r);
}
