import { useEffect, useRef, useState } from 'preact/hooks';

export interface Async<T> {
  data?: T;
  error?: string;
  loading: boolean;
}

// useAsync runs f whenever key changes, cancelling the previous run. The
// last data stays while a refresh is loading, so charts do not flicker.
export function useAsync<T>(f: (signal: AbortSignal) => Promise<T>, key: string): Async<T> {
  const [st, setSt] = useState<Async<T>>({ loading: true });
  const fr = useRef(f);
  fr.current = f;
  useEffect(() => {
    const ac = new AbortController();
    setSt((s) => ({ ...s, loading: true }));
    fr.current(ac.signal).then(
      (data) => {
        if (!ac.signal.aborted) setSt({ data, loading: false });
      },
      (err) => {
        if (!ac.signal.aborted) setSt({ error: String(err?.message ?? err), loading: false });
      },
    );
    return () => ac.abort();
  }, [key]);
  return st;
}

// useElementWidth follows an element's width.
export function useElementWidth<T extends HTMLElement>(): [preact.RefObject<T>, number] {
  const ref = useRef<T>(null);
  const [w, setW] = useState(0);
  useEffect(() => {
    if (!ref.current) return;
    const ro = new ResizeObserver((es) => {
      const cw = Math.floor(es[0].contentRect.width);
      setW((old) => (old === cw ? old : cw));
    });
    ro.observe(ref.current);
    return () => ro.disconnect();
  }, []);
  return [ref, w];
}
