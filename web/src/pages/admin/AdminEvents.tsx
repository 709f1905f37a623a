import { EVENT_SEVERITIES as SEVERITIES, EVENT_TYPES as TYPES } from '@vm-platform/sdk';
import { useEffect, useState } from 'preact/hooks';
import { api, call, type Schemas, type VmEvent } from '../../api';
import { Pager, ProblemAlert, Spinner } from '../../components/ui';
import { followEvents, type StreamState } from '../../events';
import { useLoad, useTitle } from '../../hooks';
import { Timeline } from '../VmDetails';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function AdminEvents() {
  useTitle('All events');
  const [type, setType] = useState<Schemas['EventType'] | ''>('');
  const [severity, setSeverity] = useState<Schemas['EventSeverity'] | ''>('');
  const [userId, setUserId] = useState('');
  const [vmId, setVmId] = useState('');
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [stream, setStream] = useState<StreamState>('connecting');
  const cursor = cursors[cursors.length - 1];
  const validIds = (!userId || UUID.test(userId)) && (!vmId || UUID.test(vmId));
  const page = useLoad(
    (signal) =>
      call(
        api.GET('/api/admin/events', {
          params: {
            query: {
              limit: 50,
              cursor,
              type: type || undefined,
              severity: severity || undefined,
              user_id: userId && validIds ? userId : undefined,
              vm_id: vmId && validIds ? vmId : undefined,
            },
          },
          signal,
        }),
      ),
    [cursor, type, severity, validIds ? userId : '', validIds ? vmId : ''],
  );

  // Live: every new event that passes the filters goes on top of the first page.
  const matches = (e: VmEvent) =>
    (!type || e.type === type) &&
    (!severity || e.severity === severity) &&
    (!userId || e.user_id === userId) &&
    (!vmId || e.vm_id === vmId);
  const onEvent = (e: VmEvent) => {
    if (cursor || !matches(e)) return;
    page.setData((p) => p && (p.items.some((x) => x.id === e.id) ? p : { ...p, items: [e, ...p.items] }));
  };
  const [handler] = useState(() => ({ current: onEvent }));
  handler.current = onEvent;
  useEffect(() => {
    const controller = new AbortController();
    followEvents(true, (e) => handler.current(e), setStream, controller.signal);
    return () => controller.abort();
  }, []);

  const reset = () => setCursors([undefined]);
  return (
    <section aria-labelledby="admin-events-title">
      <div class="page-head">
        <h1 id="admin-events-title">All events</h1>
        <span class={`live live-${stream}`} role="status">
          <span aria-hidden="true">●</span> {stream === 'live' ? 'Live' : stream === 'closed' ? 'Not live' : 'Connecting…'}
        </span>
      </div>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter events">
        <div class="field inline">
          <label for="event-type">Type</label>
          <select id="event-type" value={type} onChange={(e) => (setType(e.currentTarget.value as Schemas['EventType'] | ''), reset())}>
            <option value="">Any</option>
            {TYPES.map((t) => (
              <option value={t}>{t}</option>
            ))}
          </select>
        </div>
        <div class="field inline">
          <label for="event-severity">Severity</label>
          <select
            id="event-severity"
            value={severity}
            onChange={(e) => (setSeverity(e.currentTarget.value as Schemas['EventSeverity'] | ''), reset())}
          >
            <option value="">Any</option>
            {SEVERITIES.map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </div>
        <div class="field inline">
          <label for="event-user">User id</label>
          <input
            id="event-user"
            value={userId}
            onChange={(e) => (setUserId(e.currentTarget.value.trim()), reset())}
            aria-invalid={!!userId && !UUID.test(userId)}
          />
        </div>
        <div class="field inline">
          <label for="event-vm">VM id</label>
          <input
            id="event-vm"
            value={vmId}
            onChange={(e) => (setVmId(e.currentTarget.value.trim()), reset())}
            aria-invalid={!!vmId && !UUID.test(vmId)}
          />
        </div>
      </form>
      {!validIds && (
        <p class="warning" role="status">
          Ids are UUIDs such as 3f2b…: the filter is ignored until it is one.
        </p>
      )}
      <ProblemAlert problem={page.problem} />
      {page.loading && !page.data && <Spinner />}
      {page.data && <Timeline events={page.data.items} showVm />}
      <Pager label="Events" cursors={cursors} next={page.data?.next_cursor} onPage={setCursors} />
    </section>
  );
}
