import { useState } from 'preact/hooks';
import type { KEvent } from '../api';
import { fmtBytes, fmtSeconds, fmtTime, fmtTimeMs } from '../format';
import { eventProcHref } from '../proc';
import { Link } from './ui';

// eventTypes are the kinds the event store holds, in the agent's order;
// the agent's status lists them too (event_kinds), which the Events page
// prefers.
export const eventTypes = ['exec', 'exit', 'open', 'connect', 'oom', 'signal', 'uprobe', 'usdt', 'http'];

// args renders uprobe and USDT arguments.
function args(e: KEvent): string {
  const a: string[] = (e.args ?? []).map(String);
  if (e.str !== undefined) a.push(JSON.stringify(e.str) + (e.str_truncated ? '…' : ''));
  return a.join(', ');
}

export function summary(e: KEvent): { text: string; bad?: boolean } {
  switch (e.type) {
    case 'exec': {
      const argv: string[] = e.argv ?? [];
      let text = argv.length ? argv.join(' ') + (e.argv_truncated ? ' …' : '') : e.filename;
      if (argv.length && argv[0] !== e.filename) text += `  (${e.filename})`;
      // A $PATH search collapsed into the exec it found (see collapseExecBursts).
      if (e.burst_failed) text += `  after ${e.burst_failed} failed ${e.burst_failed === 1 ? 'try' : 'tries'} (${(e.burst_errors ?? []).join(', ')})`;
      return { text: text + (e.error ? '  → ' + e.error : ''), bad: !!e.error };
    }
    case 'exit':
      return {
        text: (e.signal ? `killed by signal ${e.signal}${e.core_dumped ? ' (core dumped)' : ''}` : `exit ${e.exit_code}`) + (e.duration_ns ? ` after ${fmtSeconds(e.duration_ns / 1e9)}` : ''),
        bad: !!e.signal || e.exit_code !== 0,
      };
    case 'open':
      return { text: `${e.path}${e.path_truncated ? '…' : ''}  ${e.flags ?? ''}${e.error ? '  → ' + e.error : ''}`, bad: !!e.error };
    case 'connect': {
      const host = e.family === 'inet6' || String(e.daddr).includes(':') ? `[${e.daddr}]` : e.daddr;
      return {
        text: `${e.proto ?? ''} ${host}:${e.dport}${e.error ? '  → ' + e.error : ''}${e.latency_ns ? '  ' + fmtSeconds(e.latency_ns / 1e9) : ''}`,
        bad: !!e.error,
      };
    }
    case 'oom':
      return { text: `killed by the OOM killer · anon RSS ${fmtBytes(e.anon_rss_bytes ?? 0)} · trigger ${e.trigger_comm} (${e.trigger_pid})`, bad: true };
    case 'signal':
      return { text: `${e.signal}${e.fatal ? ' (fatal)' : ''} from ${e.sender_comm || '?'} (${e.sender_pid})`, bad: !!e.fatal };
    case 'http':
      return {
        text: `${e.role} ${e.method} ${e.host ?? ''}${e.path} → ${e.status || 'no response'}${e.latency_ns ? '  ' + fmtSeconds(e.latency_ns / 1e9) : ''}`,
        bad: !e.status || e.status >= 500,
      };
    case 'uprobe':
      return { text: `${e.probe}(${args(e)})${e.ret !== undefined ? ' = ' + e.ret : ''}${e.latency_ns ? '  ' + fmtSeconds(e.latency_ns / 1e9) : ''}` };
    case 'usdt':
      return { text: `${e.probe}(${args(e)})  ${e.binary}` };
  }
  return { text: '' };
}

// EventList shows events newest first, a row each; a click shows every
// field.
export function EventList(p: { events: KEvent[]; testid?: string; compact?: boolean; empty?: string }) {
  const [open, setOpen] = useState<string | null>(null);
  if (p.events.length === 0) return <div class="empty-state small">{p.empty ?? 'No events'}</div>;
  return (
    <div class="events" data-testid={p.testid}>
      {p.events.map((e, i) => {
        const k = e.time + ':' + e.type + ':' + e.tid + ':' + i;
        const s = summary(e);
        const ms = Date.parse(e.time);
        return (
          <div key={k} class={'ev' + (open === k ? ' open' : '')}>
            <div class="ev-row" onClick={() => setOpen(open === k ? null : k)}>
              <span class="ev-time" title={e.time}>
                {p.compact ? fmtTime(ms) : fmtTimeMs(ms)}
              </span>
              <span class={'ev-type t-' + e.type}>{e.type}</span>
              <span class="ev-proc">
                <Link href={eventProcHref(e)} class="ev-comm">
                  {e.comm}
                </Link>
                <span class="ev-pid">{e.pid}</span>
              </span>
              <span class={'ev-sum' + (s.bad ? ' bad' : '')} title={s.text}>
                {s.text}
              </span>
            </div>
            {open === k && <pre class="ev-json">{JSON.stringify(e, null, 2)}</pre>}
          </div>
        );
      })}
    </div>
  );
}
