import { useEffect, useRef, useState } from 'preact/hooks';
import { fmtTime } from '../format';
import { bump, refresh, refreshes, relRanges, setRefresh, setTimeRange, timeRange, useObservable, type TimeRange } from '../store';

const names: Record<number, string> = { 300: 'Last 5 minutes', 900: 'Last 15 minutes', 3600: 'Last 1 hour', 21600: 'Last 6 hours', 86400: 'Last 24 hours', 604800: 'Last 7 days' };

function label(tr: TimeRange): string {
  if ('rel' in tr) return names[tr.rel] ?? `Last ${tr.rel}s`;
  return `${fmtTime(tr.from, true).slice(5, 16)} → ${fmtTime(tr.to, true).slice(5, 16)}`;
}

function toLocalInput(ms: number): string {
  const d = new Date(ms - new Date().getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

export function TimePicker() {
  const tr = useObservable(timeRange);
  const rf = useObservable(refresh);
  const [open, setOpen] = useState(false);
  const now = Date.now();
  const [from, setFrom] = useState(toLocalInput('rel' in tr ? now - tr.rel * 1000 : tr.from));
  const [to, setTo] = useState(toLocalInput('rel' in tr ? now : tr.to));
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const close = (e: MouseEvent) => {
      if (box.current && !box.current.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener('mousedown', close);
    return () => document.removeEventListener('mousedown', close);
  }, [open]);
  const apply = () => {
    const f = new Date(from).getTime();
    const t = new Date(to).getTime();
    if (f > 0 && t > f) {
      setTimeRange({ from: f, to: t });
      setOpen(false);
    }
  };
  return (
    <div class="timebar">
      <div class="picker" ref={box}>
        <button class="btn" data-testid="time-picker" onClick={() => setOpen(!open)} title="Time range">
          <svg viewBox="0 0 24 24" width="14" height="14" fill="none" stroke="currentColor" stroke-width="2">
            <circle cx="12" cy="12" r="9" />
            <path d="M12 7v5l3 2" />
          </svg>
          <span class="picker-label">{label(tr)}</span>
          <span class="caret">▾</span>
        </button>
        {open && (
          <div class="dropdown">
            <div class="quick">
              {relRanges.map(([k, s]) => (
                <button
                  key={k}
                  class={'quick-item' + ('rel' in tr && tr.rel === s ? ' active' : '')}
                  data-testid={'range-' + k}
                  onClick={() => {
                    setTimeRange({ rel: s });
                    setOpen(false);
                  }}
                >
                  {names[s]}
                </button>
              ))}
            </div>
            <div class="custom">
              <div class="custom-title">Custom range</div>
              <label>
                From
                <input type="datetime-local" value={from} onInput={(e) => setFrom((e.target as HTMLInputElement).value)} />
              </label>
              <label>
                To
                <input type="datetime-local" value={to} onInput={(e) => setTo((e.target as HTMLInputElement).value)} />
              </label>
              <button class="btn primary" onClick={apply}>
                Apply
              </button>
            </div>
          </div>
        )}
      </div>
      <div class="refresh">
        <button class="btn icon" title="Refresh now" data-testid="refresh-now" onClick={() => bump()}>
          <svg viewBox="0 0 24 24" width="14" height="14" fill="none" stroke="currentColor" stroke-width="2">
            <path d="M21 12a9 9 0 1 1-3-6.7L21 8M21 3v5h-5" />
          </svg>
        </button>
        <select class="select" data-testid="refresh-select" value={String(rf)} title="Auto-refresh" onChange={(e) => setRefresh(Number((e.target as HTMLSelectElement).value))}>
          {refreshes.map(([k, s]) => (
            <option key={k} value={String(s)}>
              {s === 0 ? 'Auto: off' : 'Every ' + k}
            </option>
          ))}
        </select>
      </div>
    </div>
  );
}
