import { VM_STATUSES } from '@vm-platform/sdk';
import { useState } from 'preact/hooks';
import { api, call, type VmStatus } from '../../api';
import { ListState, Pager } from '../../components/ui';
import { useLoad, useTitle } from '../../hooks';
import { VmTable } from '../VmList';

export function AdminVms() {
  useTitle('All VMs');
  const [status, setStatus] = useState<VmStatus | ''>('');
  const [host, setHost] = useState('');
  const [namePrefix, setNamePrefix] = useState('');
  const [includeDestroyed, setIncludeDestroyed] = useState(false);
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const filter = (apply: () => void) => (apply(), setCursors([undefined]));
  const page = useLoad(
    (signal) =>
      call(
        api.GET('/api/admin/vms', {
          params: {
            query: {
              limit: 20,
              cursor,
              status: status || undefined,
              host: host.trim() || undefined,
              name_prefix: namePrefix.trim() || undefined,
              include_destroyed: includeDestroyed || undefined,
            },
          },
          signal,
        }),
      ),
    [cursor, status, host, namePrefix, includeDestroyed],
  );
  return (
    <section aria-labelledby="admin-vms-title">
      <div class="page-head">
        <h1 id="admin-vms-title">All VMs</h1>
        <button type="button" class="secondary" onClick={page.reload}>
          Refresh
        </button>
      </div>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter all VMs">
        <div class="field inline">
          <label for="admin-vm-status">Status</label>
          <select id="admin-vm-status" value={status} onChange={(e) => filter(() => setStatus(e.currentTarget.value as VmStatus | ''))}>
            <option value="">Any</option>
            {VM_STATUSES.map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </div>
        <div class="field inline">
          <label for="admin-vm-host">Host</label>
          <input id="admin-vm-host" value={host} onChange={(e) => filter(() => setHost(e.currentTarget.value))} />
        </div>
        <div class="field inline">
          <label for="admin-vm-name">Name starts with</label>
          <input id="admin-vm-name" value={namePrefix} onChange={(e) => filter(() => setNamePrefix(e.currentTarget.value))} />
        </div>
        <div class="field inline checkbox">
          <input
            id="admin-vm-destroyed"
            type="checkbox"
            checked={includeDestroyed}
            onChange={(e) => filter(() => setIncludeDestroyed(e.currentTarget.checked))}
          />
          <label for="admin-vm-destroyed">Include destroyed</label>
        </div>
      </form>
      <ListState state={page} empty={<p class="empty">No VMs match.</p>}>
        {(items) => <VmTable vms={items} admin />}
      </ListState>
      <Pager label="All VMs" cursors={cursors} next={page.data?.next_cursor} onPage={setCursors} />
    </section>
  );
}
