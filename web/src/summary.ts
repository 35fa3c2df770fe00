// summary renders an event as one line, for event lists: pure, so it is
// unit-tested without a browser.
import type { KEvent, KindInfo } from './api';
import { fmtBytes, fmtSeconds } from './format';

// args renders uprobe and USDT arguments.
function args(e: KEvent): string {
  const a: string[] = (e.args ?? []).map(String);
  if (e.str !== undefined) a.push(JSON.stringify(e.str) + (e.str_truncated ? '…' : ''));
  else if (e.str_unavailable) a.push('<str unreadable>');
  return a.join(', ');
}

// fieldText renders one field's value for a summary.
function fieldText(v: unknown): string {
  if (Array.isArray(v)) return v.map(String).join(' ');
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

// kindSummary summarises an event of a kind the UI has no words for (a
// script's probe) from its kind: "field=value" for each summary field the
// event has, bad when the kind's bad field is set.
export function kindSummary(e: KEvent, k: KindInfo): { text: string; bad?: boolean } {
  const parts: string[] = [];
  for (const f of k.summary) if (e[f] !== undefined) parts.push(`${f}=${fieldText(e[f])}`);
  const b = k.bad ? e[k.bad] : undefined;
  return { text: parts.join(' '), bad: !!b && !(Array.isArray(b) && b.length === 0) };
}

// summary renders e in a line: in words for the built-in kinds, from its
// kind (as /api/v1/kinds describes it) for any other.
export function summary(e: KEvent, k?: KindInfo): { text: string; bad?: boolean } {
  switch (e.type) {
    case 'exec': {
      // A string kscope could not read from the process is said to be
      // unreadable, never shown as empty.
      const argv: string[] = e.argv ?? [];
      const filename = e.filename_unavailable ? '<filename unreadable>' : e.filename;
      let text = argv.length ? argv.join(' ') + (e.argv_truncated ? ' …' : '') : filename;
      if (e.argv_unavailable) text += (argv.length ? ' ' : '') + '<argv unreadable>';
      if (argv.length && argv[0] !== e.filename) text += `  (${filename})`;
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
      return { text: `${e.path_unavailable ? '<path unreadable>' : e.path}${e.path_truncated ? '…' : ''}  ${e.flags ?? ''}${e.error ? '  → ' + e.error : ''}`, bad: !!e.error };
    case 'connect': {
      const host = e.addr_unavailable ? '<address unreadable>' : e.family === 'inet6' || String(e.daddr).includes(':') ? `[${e.daddr}]` : e.daddr;
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
  return k ? kindSummary(e, k) : { text: '' };
}
