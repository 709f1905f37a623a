import { signal } from '@preact/signals';
import { EventSourceParserStream } from 'eventsource-parser/stream';
import { useEffect, useRef } from 'preact/hooks';
import { api, type VmEvent } from './api';

export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'closed';

/** What the header's live indicator shows: the state of the user's own stream. */
export const liveState = signal<StreamState>('closed');

type Listener = (event: VmEvent) => void;

/**
 * Follows GET /api/events/stream (or the admin stream) through the SDK. EventSource cannot send an
 * Authorization header and the token never goes in a URL, so this is fetch + an SSE parser; on a
 * dropped stream it reconnects with Last-Event-ID, which replays what was missed.
 */
export function followEvents(admin: boolean, onEvent: Listener, onState: (s: StreamState) => void, signal: AbortSignal): void {
  let lastId: string | undefined;
  let retryMs = 3000;
  const run = async () => {
    while (!signal.aborted) {
      onState(lastId ? 'reconnecting' : 'connecting');
      try {
        const params = { header: lastId ? { 'Last-Event-ID': lastId } : {} };
        const { response, data } = admin
          ? await api.GET('/api/admin/events/stream', { params, parseAs: 'stream', signal })
          : await api.GET('/api/events/stream', { params, parseAs: 'stream', signal });
        // 401 signs out (api middleware); 403 will not change by retrying.
        if (response.status === 401 || response.status === 403) break;
        if (response.ok && data) {
          onState('live');
          const reader = (data as ReadableStream<BufferSource>)
            .pipeThrough(new TextDecoderStream())
            .pipeThrough(new EventSourceParserStream({ onRetry: (ms) => (retryMs = ms) }))
            .getReader();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            if (value.id) lastId = value.id;
            try {
              onEvent(JSON.parse(value.data) as VmEvent);
            } catch {
              /* not an event: ignore */
            }
          }
        }
      } catch {
        if (signal.aborted) break;
      }
      if (signal.aborted) break;
      onState('reconnecting');
      await new Promise((resume) => {
        const timer = setTimeout(resume, retryMs);
        signal.addEventListener('abort', () => (clearTimeout(timer), resume(undefined)), { once: true });
      });
    }
    onState('closed');
  };
  void run();
}

const listeners = new Set<Listener>();

/** The signed-in user's one stream for the whole app; pages listen with useUserEvents. */
export function startUserStream(): () => void {
  const controller = new AbortController();
  followEvents(
    false,
    (e) => listeners.forEach((l) => l(e)),
    (s) => (liveState.value = s),
    controller.signal,
  );
  return () => controller.abort();
}

/** Calls `onEvent` for each of the user's events while the component is mounted. */
export function useUserEvents(onEvent: Listener): void {
  const latest = useRef(onEvent);
  latest.current = onEvent;
  useEffect(() => {
    const l: Listener = (e) => latest.current(e);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
}
