import { describe, expect, it } from 'vitest';
import type { KEvent, KindInfo } from '../api';
import { summary } from '../summary';

const hdr = { time: '2026-12-06T00:00:00Z', pid: 7, tid: 7, ppid: 1, uid: 0, comm: 'x', cgroup_id: 1 };

describe('summary', () => {
  it('names strings that could not be read instead of showing them empty', () => {
    const cases: [Partial<KEvent>, string][] = [
      [{ type: 'exec', filename: '/bin/true', argv: ['exk', '37'] }, 'exk 37  (/bin/true)'],
      [{ type: 'exec', filename: '', filename_unavailable: true, argv: [], argv_unavailable: true, ret: -14, error: 'EFAULT' }, '<filename unreadable><argv unreadable>  → EFAULT'],
      [{ type: 'exec', filename: '/bin/sh', argv: ['sh'], argv_unavailable: true }, 'sh <argv unreadable>  (/bin/sh)'],
      [{ type: 'open', path: '', path_unavailable: true, flags: 'O_RDONLY' }, '<path unreadable>  O_RDONLY'],
      [{ type: 'connect', proto: 'tcp', daddr: '', dport: 0, addr_unavailable: true }, 'tcp <address unreadable>:0'],
      [{ type: 'uprobe', probe: 'libc:puts', args: [0], str_unavailable: true }, 'libc:puts(0, <str unreadable>)'],
    ];
    for (const [e, want] of cases) expect(summary({ ...hdr, ...e } as KEvent).text).toBe(want);
  });
});

describe('kindSummary', () => {
  const k: KindInfo = {
    name: 'script_probe',
    doc: "a script's probe",
    fields: [],
    columns: [],
    summary: ['fn', 'bytes', 'words', 'note'],
    bad: 'err',
  };
  it('summarises a kind built at run time from its summary fields', () => {
    expect(summary({ ...hdr, type: 'script_probe', fn: 'read', bytes: 4096, words: ['a', 'b'] } as unknown as KEvent, k)).toEqual({ text: 'fn=read bytes=4096 words=a b', bad: false });
    expect(summary({ ...hdr, type: 'script_probe', fn: 'write', err: 'EIO' } as unknown as KEvent, k)).toEqual({ text: 'fn=write', bad: true });
    expect(summary({ ...hdr, type: 'script_probe', fn: 'x' } as unknown as KEvent).text).toBe('');
  });
});
