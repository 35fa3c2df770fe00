import { useEffect, useState } from 'preact/hooks';
import { labelValues, queryInstant, queryRange } from '../api';
import { metricName, Plot, toChartData } from '../components/Chart';
import { ErrorBox, Panel, Table } from '../components/ui';
import { fmt, guessUnit, type Unit } from '../format';
import { useAsync } from '../hooks';
import { setParams, useRoute, useWindow } from '../store';

const units: [Unit | 'auto', string][] = [
  ['auto', 'Unit: auto'],
  ['count', 'Unit: none'],
  ['seconds', 'Unit: seconds'],
  ['bytes', 'Unit: bytes'],
  ['bytes/s', 'Unit: bytes/s'],
  ['ops/s', 'Unit: per second'],
  ['cores', 'Unit: CPU'],
  ['percent', 'Unit: percent'],
];

export function Query() {
  const r = useRoute();
  const expr = r.params.get('expr') ?? '';
  const tab = r.params.get('tab') === 'table' ? 'table' : 'graph';
  const [draft, setDraft] = useState(expr);
  const [unitSel, setUnitSel] = useState<Unit | 'auto'>('auto');
  const [stacked, setStacked] = useState(false);
  useEffect(() => setDraft(expr), [expr]);
  const win = useWindow();
  const names = useAsync((signal) => labelValues('__name__', signal), 'names');
  const run = () => setParams({ expr: draft.trim() }, false);
  const unit = unitSel === 'auto' ? guessUnit(expr) : unitSel;
  const graph = useAsync(
    async (signal) => {
      if (!expr || tab !== 'graph') return undefined;
      const t0 = performance.now();
      const res = await queryRange(expr, win.start, win.end, win.step, signal);
      return { data: toChartData([{ series: res }], win), ms: performance.now() - t0 };
    },
    expr + '|' + tab + '|' + win.key,
  );
  const table = useAsync(
    async (signal) => {
      if (!expr || tab !== 'table') return undefined;
      return queryInstant(expr, win.end, signal);
    },
    expr + '|' + tab + '|' + win.key,
  );
  return (
    <div class="page">
      <Panel title="Expression" sub="PromQL over the agent's store; Enter runs it" testid="query-panel">
        <form
          class="query-form"
          onSubmit={(e) => {
            e.preventDefault();
            run();
          }}
        >
          <input
            class="input mono grow"
            list="metric-names"
            spellcheck={false}
            autoComplete="off"
            placeholder="e.g. sum by (syscall) (rate(kscope_syscalls_total[1m]))"
            value={draft}
            data-testid="query-input"
            onInput={(e) => setDraft((e.target as HTMLInputElement).value)}
          />
          <datalist id="metric-names">
            {(names.data ?? []).map((n) => (
              <option key={n} value={n} />
            ))}
          </datalist>
          <button class="btn primary" type="submit" data-testid="query-run">
            Run
          </button>
        </form>
        <div class="toolbar tight">
          <div class="seg">
            <button class={tab === 'graph' ? 'active' : ''} data-testid="tab-graph" onClick={() => setParams({ tab: undefined })}>
              Graph
            </button>
            <button class={tab === 'table' ? 'active' : ''} data-testid="tab-table" onClick={() => setParams({ tab: 'table' })}>
              Table
            </button>
          </div>
          {tab === 'graph' && (
            <>
              <select class="select" value={unitSel} onChange={(e) => setUnitSel((e.target as HTMLSelectElement).value as Unit)}>
                {units.map(([k, n]) => (
                  <option key={k} value={k}>
                    {n}
                  </option>
                ))}
              </select>
              <label class="check">
                <input type="checkbox" checked={stacked} onChange={(e) => setStacked((e.target as HTMLInputElement).checked)} /> Stacked
              </label>
            </>
          )}
          <span class="muted small">
            {tab === 'graph' && graph.data && `${graph.data.data.series.length} series · step ${win.step}s · ${graph.data.ms.toFixed(0)} ms`}
          </span>
        </div>
      </Panel>
      {!expr ? (
        <div class="empty-state">
          Type a PromQL expression, or start from one of these:
          <ul class="examples">
            {[
              'sum by (syscall) (rate(kscope_syscalls_total[1m]))',
              'topk(5, sum by (comm) (rate(kscope_process_cpu_seconds_total[1m])))',
              'histogram_quantile(0.99, sum by (le) (rate(kscope_sched_runqueue_latency_seconds_bucket[1m])))',
              'sum by (state) (kscope_tcp_connections)',
              'sum by (device, op) (rate(kscope_block_io_bytes_total[1m]))',
            ].map((x) => (
              <li key={x}>
                <a
                  href="#"
                  onClick={(e) => {
                    e.preventDefault();
                    setParams({ expr: x }, false);
                  }}
                >
                  <code>{x}</code>
                </a>
              </li>
            ))}
          </ul>
        </div>
      ) : tab === 'graph' ? (
        <Panel title="Graph" sub={expr} testid="query-graph">
          <Plot data={graph.data?.data} error={graph.error} loading={graph.loading} unit={unit} stacked={stacked} height={320} legendHeight={140} testid="query-chart" />
        </Panel>
      ) : (
        <Panel title="Table" sub={`instant query at the end of the range`} testid="query-table">
          <ErrorBox error={table.error} />
          {table.data && <ResultTable d={table.data} unit={unitSel === 'auto' ? guessUnit(expr) : unitSel} />}
        </Panel>
      )}
    </div>
  );
}

function ResultTable(p: { d: { resultType: string; result: any }; unit: Unit }) {
  const { resultType, result } = p.d;
  if (resultType === 'scalar' || resultType === 'string') return <div class="big-value">{resultType === 'scalar' ? result[1] : result[1]}</div>;
  const rows = (result as any[]).map((s, i) => ({
    i,
    name: metricName(s.metric),
    raw: resultType === 'vector' ? s.value?.[1] : s.values?.[s.values.length - 1]?.[1],
    v: resultType === 'vector' ? Number(s.value?.[1]) : Number(s.values?.[s.values.length - 1]?.[1]),
  }));
  return (
    <Table
      rows={rows}
      rowKey={(r) => String(r.i)}
      sort="v"
      testid="query-result-table"
      empty="Empty result"
      cols={[
        { key: 'name', title: 'Series', value: (r) => r.name, render: (r) => <code class="series">{r.name}</code> },
        { key: 'v', title: 'Value', value: (r) => r.v, align: 'right', bar: true, render: (r) => <span title={r.raw}>{fmt(r.v, p.unit)}</span> },
      ]}
    />
  );
}
