import { useMemo, useState } from 'preact/hooks';
import { profile, type ProfileQuery } from '../api';
import { fmtPercent } from '../format';
import { useAsync } from '../hooks';
import { FlameGraph, fmtValue, topFunctions } from './Flame';
import { Table } from './ui';

// ProfileView fetches a profile (optionally a diff against a base range)
// and shows its flame graph with a search box and the top functions.
export function ProfileView(p: { q: ProfileQuery; testid?: string; showTop?: boolean }) {
  const [search, setSearch] = useState('');
  const st = useAsync((signal) => profile(p.q, signal), JSON.stringify(p.q));
  const prof = st.data;
  const top = useMemo(() => (prof ? topFunctions(prof.root).slice(0, 30) : []), [prof]);
  const diff = prof?.root.base !== undefined;
  const total = prof?.root.value ?? 0;
  const baseTotal = prof?.root.base ?? 0;
  if (st.error) {
    const off = /not (running|enabled|available)|no profiles|profile collector|404|not found/i.test(st.error);
    return (
      <div class="empty-state small" data-testid={p.testid}>
        {off ? (
          <>
            No profile: {st.error}. Profiles come from the agent's <code>profile</code> collector (<code>--collectors …,profile</code>).
          </>
        ) : (
          <span class="bad">{st.error}</span>
        )}
      </div>
    );
  }
  if (!prof) return <div class="empty-state small">Loading profile…</div>;
  if (total === 0)
    return (
      <div class="empty-state small" data-testid={p.testid}>
        No samples in this range.
        {p.q.type === 'offcpu' && (
          <>
            {' '}
            Off-CPU stacks are stored when the profile collector has <code>off_cpu: true</code>.
          </>
        )}
      </div>
    );
  return (
    <div class="profile-view" data-testid={p.testid} data-total={total}>
      <div class="toolbar tight">
        <input class="input grow" placeholder="Search functions (regexp)" value={search} data-testid="flame-search" onInput={(e) => setSearch((e.target as HTMLInputElement).value)} />
        <span class="muted small">
          {fmtValue(total, prof.unit)} sampled{diff ? ` · base ${fmtValue(baseTotal, prof.unit)}` : ''}
        </span>
      </div>
      <FlameGraph profile={prof} search={search} testid="flamegraph" />
      {p.showTop !== false && (
        <details class="top-funcs" open={p.showTop === true}>
          <summary>Top functions by self time</summary>
          <Table
            rows={top}
            rowKey={(r) => r.name}
            sort="self"
            testid="top-functions"
            onRow={(r) => setSearch('^' + r.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '$')}
            cols={[
              { key: 'name', title: 'Function', value: (r) => r.name, render: (r) => <code class="fn">{r.name}</code> },
              { key: 'self', title: 'Self', value: (r) => r.self, align: 'right', bar: true, render: (r) => `${fmtValue(r.self, prof.unit)} · ${fmtPercent(r.self / total)}` },
              { key: 'total', title: 'Total', value: (r) => r.total, align: 'right', render: (r) => `${fmtValue(r.total, prof.unit)} · ${fmtPercent(r.total / total)}` },
              ...(diff
                ? [
                    {
                      key: 'delta',
                      title: 'Self change',
                      value: (r: any) => r.self / total - (baseTotal ? r.baseSelf / baseTotal : 0),
                      align: 'right' as const,
                      render: (r: any) => {
                        const d = (r.self / total - (baseTotal ? r.baseSelf / baseTotal : 0)) * 100;
                        return <span class={d > 0 ? 'up' : d < 0 ? 'down' : ''}>{(d >= 0 ? '+' : '') + d.toFixed(2)} pp</span>;
                      },
                    },
                  ]
                : []),
            ]}
          />
        </details>
      )}
    </div>
  );
}
