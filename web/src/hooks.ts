import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, call, problemOf, type Problem, type Schemas } from './api';

export interface Loaded<T> {
  data: T | undefined;
  problem: Problem | null;
  loading: boolean;
  reload: () => void;
  setData: (update: (current: T | undefined) => T | undefined) => void;
}

/** Runs `load` when `deps` change (aborting the previous run) and keeps its result or problem. */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setState] = useState<T | undefined>(undefined);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [loading, setLoading] = useState(true);
  const [generation, setGeneration] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    loadRef
      .current(controller.signal)
      .then((value) => {
        if (controller.signal.aborted) return;
        setState(() => value);
        setProblem(null);
      })
      .catch((err: unknown) => {
        if (!controller.signal.aborted) setProblem(problemOf(err));
      })
      .finally(() => {
        if (!controller.signal.aborted) setLoading(false);
      });
    return () => controller.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, generation]);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  const setData = useCallback((update: (current: T | undefined) => T | undefined) => setState((c) => update(c)), []);
  return { data, problem, loading, reload, setData };
}

/** Wraps an async user action: `busy` while it runs, its problem (if any) afterwards. */
export function useAction<A extends unknown[]>(action: (...args: A) => Promise<unknown>) {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const run = async (...args: A): Promise<boolean> => {
    setBusy(true);
    setProblem(null);
    try {
      await action(...args);
      return true;
    } catch (err) {
      setProblem(problemOf(err));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { run, busy, problem, setProblem };
}

/** Re-renders every `ms` while `active` (uptime counters). */
export function useTicker(active: boolean, ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [active, ms]);
  return now;
}

export function useTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · VM Platform`;
  }, [title]);
}

/**
 * The price of a size and whether the balance covers it (POST /api/vms/quota-check), asked again 250 ms
 * after the last change. `body` null (a size out of the limits): no price.
 */
export function useQuotaCheck(body: Schemas['QuotaCheckDto'] | null): {
  quota: Schemas['QuotaResponseDto'] | null;
  problem: Problem | null;
} {
  const [quota, setQuota] = useState<Schemas['QuotaResponseDto'] | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const key = JSON.stringify(body);
  useEffect(() => {
    if (!body) {
      setQuota(null);
      return;
    }
    const controller = new AbortController();
    const timer = setTimeout(() => {
      call(api.POST('/api/vms/quota-check', { body, signal: controller.signal }))
        .then((q) => {
          setQuota(q);
          setProblem(null);
        })
        .catch((err: unknown) => {
          if (!controller.signal.aborted) setProblem(problemOf(err));
        });
    }, 250);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [key]); // the body's value, not its identity
  return { quota, problem };
}
