import { useEffect, useState } from 'preact/hooks';
import { ProfileView } from '../components/ProfileView';
import { Panel, useJoined } from '../components/ui';
import { fmtCores } from '../format';
import { setParams, useRoute, useWindow } from '../store';

const baseChoices: [string, string, number][] = [
  ['', 'No comparison', 0],
  ['prev', 'Previous period', -1],
  ['1h', 'Same range 1 hour earlier', 3600],
  ['1d', 'Same range 1 day earlier', 86400],
  ['custom', 'Custom base range', -2],
];

function toLocalInput(ms: number): string {
  return new Date(ms - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

export function Profiles() {
  const r = useRoute();
  const win = useWindow();
  const target = r.params.get('target') ?? '';
  const type = r.params.get('type') === 'offcpu' ? 'offcpu' : 'cpu';
  const base = r.params.get('base') ?? '';
  const [draft, setDraft] = useState(target);
  useEffect(() => setDraft(target), [target]);
  const top = useJoined({ cpu: `topk(12, sum by (pid, comm) (rate(kscope_process_cpu_seconds_total{pid!="other",pid!=""}[${win.spanStr}])))` }, ['pid', 'comm'], win.end, win.key);
  const isPid = /^\d+$/.test(target);
  const bc = baseChoices.find((b) => b[0] === base) ?? baseChoices[0];
  const shift = bc[2] === -1 ? win.end - win.start : bc[2] > 0 ? bc[2] : 0;
  // A custom base range, in Unix milliseconds in the URL.
  const bf = Number(r.params.get('base_from')) || (win.start - (win.end - win.start)) * 1000;
  const bt = Number(r.params.get('base_to')) || win.start * 1000;
  const baseRange = bc[2] === -2 ? { base_since: Math.floor(bf / 1000), base_until: Math.floor(bt / 1000) } : shift ? { base_since: win.start - shift, base_until: win.end - shift } : {};
  const q = {
    ...(target ? (isPid ? { pid: target } : { comm: target }) : {}),
    type: type as 'cpu' | 'offcpu',
    since: win.start,
    until: win.end,
    ...baseRange,
  };
  return (
    <div class="page">
      <div class="toolbar" data-testid="profile-form">
        <form
          class="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            setParams({ target: draft.trim() }, false);
          }}
        >
          <input class="input target" placeholder="pid or command (empty: every process)" value={draft} data-testid="profile-target" onInput={(e) => setDraft((e.target as HTMLInputElement).value)} />
          <button class="btn primary" type="submit" data-testid="profile-go">
            Show
          </button>
        </form>
        <div class="seg">
          <button class={type === 'cpu' ? 'active' : ''} onClick={() => setParams({ type: undefined })}>
            On-CPU
          </button>
          <button class={type === 'offcpu' ? 'active' : ''} data-testid="profile-offcpu" onClick={() => setParams({ type: 'offcpu' })}>
            Off-CPU
          </button>
        </div>
        <select class="select" value={base} data-testid="profile-base" onChange={(e) => setParams({ base: (e.target as HTMLSelectElement).value })} title="Compare with a base range: red grew, blue shrank">
          {baseChoices.map(([k, name]) => (
            <option key={k} value={k}>
              {k ? 'Diff: ' + name : name}
            </option>
          ))}
        </select>
        {bc[2] === -2 && (
          <span class="base-range" data-testid="profile-base-range">
            <input
              type="datetime-local"
              class="input"
              value={toLocalInput(bf)}
              onChange={(e) => setParams({ base_from: String(new Date((e.target as HTMLInputElement).value).getTime() || '') })}
            />
            <span class="muted">→</span>
            <input
              type="datetime-local"
              class="input"
              value={toLocalInput(bt)}
              onChange={(e) => setParams({ base_to: String(new Date((e.target as HTMLInputElement).value).getTime() || '') })}
            />
          </span>
        )}
      </div>
      {top.data && top.data.length > 0 && (
        <div class="chips" data-testid="profile-suggestions">
          <span class="label">Busiest</span>
          {top.data
            .sort((a: any, b: any) => b.cpu - a.cpu)
            .map((p: any) => (
              <button key={p.pid} class={'chip' + (target === p.pid ? ' active' : '')} onClick={() => setParams({ target: p.pid }, false)}>
                {p.comm} <span class="muted">{p.pid}</span> <span class="chip-val">{fmtCores(p.cpu)}</span>
              </button>
            ))}
        </div>
      )}
      <Panel
        title={(type === 'cpu' ? 'On-CPU' : 'Off-CPU') + ' flame graph' + (target ? (isPid ? ` · pid ${target}` : ` · ${target}`) : ' · every process')}
        sub={
          'base_since' in baseRange
            ? `${bc[1].toLowerCase()} as base: red frames take a larger share now, blue a smaller one`
            : type === 'cpu'
              ? 'where the CPU time went: width is time on CPU; click a frame to zoom'
              : 'where threads waited off CPU: width is time blocked; click a frame to zoom'
        }
        testid="profile-panel"
      >
        <ProfileView q={q} testid="profile" showTop />
      </Panel>
    </div>
  );
}
