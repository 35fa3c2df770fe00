import { useState } from 'preact/hooks';
import type { KEvent } from '../api';
import { fmtBytes, fmtSeconds, fmtTime, fmtTimeMs } from '../format';
import { Link } from './ui';

export const eventTypes = ['exec', 'exit', 'open', 'connect', 'oom', 'signal'];

export function summary(e: KEvent): { text: string; bad?: boolean } {
  switch (e.type) {
    case 'exec': {
      const argv: string[] = e.argv ?? [];
      let text = argv.length ? argv.join(' ') + (e.argv_truncated ? ' …' : '') : e.filename;
      if (argv.length && argv[0] !== e.filename) text += `  (${e.filename})`;
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
                <Link href={'/processes/' + e.pid} class="ev-comm">
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
