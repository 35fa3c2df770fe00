import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { eventRate, events as fetchEvents, num, streamURL, type KEvent } from '../api';
import { Plot, type ChartData } from '../components/Chart';
import { EventList } from '../components/EventList';
import { ErrorBox, Panel } from '../components/ui';
import { fmtCount } from '../format';
import { useAsync } from '../hooks';
import { kinds, setParams, useObservable, useRoute, useWindow } from '../store';

const liveMax = 500;

interface Filters {
  type: string;
  pid: string;
  comm: string;
  q: string;
}

export function Events() {
  const r = useRoute();
  const mode = r.params.get('mode') === 'history' ? 'history' : 'live';
  const f: Filters = { type: r.params.get('type') ?? '', pid: r.params.get('pid') ?? '', comm: r.params.get('comm') ?? '', q: r.params.get('q') ?? '' };
  const [draft, setDraft] = useState(f);
  useEffect(() => setDraft(f), [f.type, f.pid, f.comm, f.q]);
  // Text inputs apply after a pause in typing.
  useEffect(() => {
    const t = setTimeout(() => {
      if (draft.pid !== f.pid || draft.comm !== f.comm || draft.q !== f.q) setParams({ pid: draft.pid, comm: draft.comm, q: draft.q });
    }, 400);
    return () => clearTimeout(t);
  }, [draft.pid, draft.comm, draft.q]);
  const pidBad = draft.pid !== '' && !/^\d+$/.test(draft.pid);
  // Every kind the agent knows, as /api/v1/kinds lists them.
  const kindNames = useObservable(kinds).map((k) => k.name);

  return (
    <div class="page">
      <div class="toolbar" data-testid="event-filters">
        <div class="seg">
          <button class={mode === 'live' ? 'active' : ''} data-testid="mode-live" onClick={() => setParams({ mode: undefined })}>
            <span class="live-dot" /> Live
          </button>
          <button class={mode === 'history' ? 'active' : ''} data-testid="mode-history" onClick={() => setParams({ mode: 'history' })}>
            History
          </button>
        </div>
        <select class="select" value={f.type} data-testid="filter-type" onChange={(e) => setParams({ type: (e.target as HTMLSelectElement).value })}>
          <option value="">All types</option>
          {kindNames.map((t) => (
            <option key={t} value={t}>
              {t}
            </option>
          ))}
        </select>
        <input class={'input narrow' + (pidBad ? ' invalid' : '')} placeholder="pid" value={draft.pid} data-testid="filter-pid" onInput={(e) => setDraft({ ...draft, pid: (e.target as HTMLInputElement).value.trim() })} />
        <input class="input" placeholder="comm (exact)" value={draft.comm} data-testid="filter-comm" onInput={(e) => setDraft({ ...draft, comm: (e.target as HTMLInputElement).value.trim() })} />
        <input class="input grow" placeholder="Search text in any field" value={draft.q} data-testid="filter-q" onInput={(e) => setDraft({ ...draft, q: (e.target as HTMLInputElement).value })} />
      </div>
      {pidBad ? <ErrorBox error="pid must be a number" /> : mode === 'live' ? <Live f={f} /> : <History f={f} />}
    </div>
  );
}

function Live(p: { f: Filters }) {
  const [evs, setEvs] = useState<KEvent[]>([]);
  const [paused, setPaused] = useState(false);
  const [state, setState] = useState<'connecting' | 'open' | 'closed'>('connecting');
  const [dropped, setDropped] = useState(0);
  const [count, setCount] = useState(0);
  const [rate, setRate] = useState(0);
  const [gen, setGen] = useState(0); // bumped to reconnect
  const buf = useRef<KEvent[]>([]);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  const url = streamURL(p.f);

  useEffect(() => {
    setEvs([]);
    setCount(0);
    setDropped(0);
    buf.current = [];
    setState('connecting');
    const es = new EventSource(url);
    let n = 0;
    let lastN = 0;
    es.onopen = () => setState('open');
    es.onerror = () => setState(es.readyState === EventSource.CLOSED ? 'closed' : 'connecting');
    es.onmessage = (m) => {
      try {
        buf.current.push(JSON.parse(m.data));
        n++;
        // While paused only the newest events are kept.
        if (buf.current.length > 2 * liveMax) buf.current.splice(0, buf.current.length - liveMax);
      } catch {
        // not an event
      }
    };
    es.addEventListener('dropped', (m) => {
      try {
        setDropped(JSON.parse((m as MessageEvent).data).dropped);
      } catch {
        // ignore
      }
    });
    es.addEventListener('end', () => {
      es.close();
      setState('closed');
    });
    // Render at most 4 times a second, however fast events come.
    const flush = setInterval(() => {
      if (buf.current.length && !pausedRef.current) {
        const fresh = buf.current.reverse();
        buf.current = [];
        setEvs((old) => fresh.concat(old).slice(0, liveMax));
      }
      setCount(n);
    }, 250);
    const rater = setInterval(() => {
      setRate(n - lastN);
      lastN = n;
    }, 1000);
    return () => {
      es.close();
      clearInterval(flush);
      clearInterval(rater);
    };
  }, [url, gen]);

  return (
    <Panel
      title={
        <>
          <span class={'conn ' + state} data-testid="live-state">
            {state === 'open' ? 'streaming' : state === 'closed' ? 'agent stopped' : state}
          </span>{' '}
          Live events
        </>
      }
      sub={
        <span data-testid="live-stats">
          {fmtCount(count)} received · {rate}/s{dropped > 0 && <span class="bad"> · {fmtCount(dropped)} dropped (too slow)</span>} · newest {liveMax} kept
        </span>
      }
      actions={
        <>
          {state === 'closed' && (
            <button class="btn primary" onClick={() => setGen(gen + 1)}>
              Reconnect
            </button>
          )}
          <button class="btn" data-testid="live-pause" onClick={() => setPaused(!paused)}>
            {paused ? 'Resume' : 'Pause'}
          </button>
          <button class="btn" onClick={() => setEvs([])}>
            Clear
          </button>
        </>
      }
      testid="live-panel"
    >
      <EventList events={evs} testid="live-events" empty={state === 'open' ? 'Waiting for events…' : 'Connecting…'} />
    </Panel>
  );
}

function History(p: { f: Filters }) {
  const win = useWindow(120);
  const match: string[] = [];
  if (p.f.pid) match.push('pid=' + p.f.pid);
  if (p.f.comm) match.push('comm=' + p.f.comm);
  const q = { type: p.f.type || undefined, since: win.start, until: win.end + win.step, match, q: p.f.q || undefined };
  const key = JSON.stringify([p.f.type, match, p.f.q, win.key]);
  const st = useAsync((signal) => fetchEvents({ ...q, limit: 5000 }, signal), key);
  // The rate chart counts every stored event of the range on the server,
  // not the page of events listed below it.
  const rate = useAsync((signal) => eventRate({ ...q, step: win.step }, signal), key);
  const evs = useMemo(() => [...(st.data?.events ?? [])].reverse(), [st.data]);
  const chart = useMemo<ChartData | undefined>(() => {
    if (!rate.data) return undefined;
    const xs: number[] = [];
    for (let t = win.start; t <= win.end; t += win.step) xs.push(t);
    const series = rate.data.map((s) => {
      const values: (number | null)[] = xs.map(() => 0);
      for (const [t, v] of s.values) {
        const i = Math.round((t - win.start) / win.step);
        if (i >= 0 && i < xs.length) values[i] = num(v);
      }
      return { name: s.metric.type, values };
    });
    return { xs, series };
  }, [rate.data]);
  const total = rate.data?.reduce((a, s) => a + s.total, 0);
  return (
    <>
      <Panel title="Event rate" testid="history-rate" sub={total === undefined ? 'events per second by type' : `events per second by type; ${fmtCount(total)} ${total === 1 ? 'event' : 'events'} stored in the range`}>
        <Plot data={chart} loading={rate.loading} error={rate.error} unit="ops/s" stacked bars height={120} testid="history-chart" />
      </Panel>
      <Panel
        title="Stored events"
        sub={st.data?.truncated ? 'The newest 5,000 of the range: narrow the range or filters to see older ones' : 'newest first'}
        testid="history-panel"
      >
        <ErrorBox error={st.error} />
        <EventList events={evs} testid="history-events" empty={st.loading ? 'Loading…' : 'No stored events match in this range'} />
      </Panel>
    </>
  );
}
