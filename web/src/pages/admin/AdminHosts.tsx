import { useState } from 'preact/hooks';
import { api, call, type Schemas } from '../../api';
import { ACTIONS_COLUMN, ConfirmDialog, ListState, ProblemAlert, TableRegion } from '../../components/ui';
import { formatTime } from '../../format';
import { useAction, useLoad, useTitle } from '../../hooks';

type Host = Schemas['HostResponseDto'];
type Resources = Schemas['HostResourcesDto'];

function resources(r: Resources): string {
  return `${r.cpu_cores} cores · ${r.ram_mb} MB · ${r.disk_gb} GB`;
}

export function AdminHosts() {
  useTitle('Hypervisor hosts');
  const hosts = useLoad((signal) => call(api.GET('/api/admin/hosts', { params: { query: { limit: 100 } }, signal })), []);
  const [changing, setChanging] = useState<Host | null>(null);
  const [reason, setReason] = useState('');
  const update = useAction(async (host: Host) => {
    const fresh = await call(
      api.PATCH('/api/admin/hosts/{name}', {
        params: { path: { name: host.name } },
        body: { schedulable: !host.schedulable, ...(reason.trim() ? { reason: reason.trim() } : {}) },
      }),
    );
    hosts.setData((p) => p && { ...p, items: p.items.map((h) => (h.name === fresh.name ? fresh : h)) });
    setChanging(null);
  });
  return (
    <section aria-labelledby="hosts-title">
      <div class="page-head">
        <h1 id="hosts-title">Hypervisor hosts</h1>
        <button type="button" class="secondary" onClick={hosts.reload}>
          Refresh
        </button>
      </div>
      <ListState state={hosts} empty={<p class="empty">No host has registered yet (each worker process registers its host).</p>}>
        {(items) => (
          <TableRegion
            label="Hosts"
            columns={[
              'Host',
              'Status',
              'Scheduling',
              'Capacity',
              'Allocated',
              'Free',
              { label: 'VMs', num: true },
              'Last seen',
              ACTIONS_COLUMN,
            ]}
          >
            <tbody>
              {items.map((h) => (
                <tr key={h.name} data-host={h.name}>
                  <td>{h.name}</td>
                  <td>
                    <span class={`badge badge-host-${h.status}`}>{h.status}</span>
                  </td>
                  <td>{h.schedulable ? 'schedulable' : `drained${h.schedulable_reason ? `: ${h.schedulable_reason}` : ''}`}</td>
                  <td>{resources(h.capacity)}</td>
                  <td>{resources(h.allocated)}</td>
                  <td>{resources(h.free)}</td>
                  <td class="num">{h.vm_count}</td>
                  <td>{formatTime(h.last_seen_at)}</td>
                  <td>
                    <button type="button" class="secondary small" onClick={() => (setReason(''), update.setProblem(null), setChanging(h))}>
                      {h.schedulable ? 'Drain' : 'Return to service'}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </TableRegion>
        )}
      </ListState>
      <ConfirmDialog
        open={!!changing}
        title={changing?.schedulable ? `Drain ${changing.name}?` : `Return ${changing?.name ?? ''} to service?`}
        confirmLabel={changing?.schedulable ? 'Drain' : 'Return to service'}
        busy={update.busy}
        onCancel={() => setChanging(null)}
        onConfirm={() => changing && void update.run(changing)}
      >
        <p>{changing?.schedulable ? 'No new VM is placed on it; its VMs keep running.' : 'New VMs may be placed on it again.'}</p>
        <div class="field">
          <label for="host-reason">Reason</label>
          <input id="host-reason" maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
        </div>
        <ProblemAlert problem={update.problem} />
      </ConfirmDialog>
    </section>
  );
}
