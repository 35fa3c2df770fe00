import { useState } from 'preact/hooks';
import type { KEvent } from '../api';
import { fmtTime, fmtTimeMs } from '../format';
import { eventProcHref, placeOf } from '../proc';
import { kindOf, kinds, useObservable } from '../store';
import { summary } from '../summary';
import { Link } from './ui';

export { summary };

// EventList shows events newest first, a row each; a click shows every
// field.
export function EventList(p: { events: KEvent[]; testid?: string; compact?: boolean; empty?: string }) {
  const [open, setOpen] = useState<string | null>(null);
  const ks = useObservable(kinds);
  if (p.events.length === 0) return <div class="empty-state small">{p.empty ?? 'No events'}</div>;
  return (
    <div class="events" data-testid={p.testid}>
      {p.events.map((e, i) => {
        const k = e.time + ':' + e.type + ':' + e.tid + ':' + i;
        const s = summary(e, kindOf(ks, e.type));
        const ms = Date.parse(e.time);
        const place = placeOf(e);
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
                {place.text && (
                  <span class="ev-place" title={place.title} data-testid="event-place">
                    {place.text}
                  </span>
                )}
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
