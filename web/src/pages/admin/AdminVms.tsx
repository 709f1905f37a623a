import { VM_STATUSES } from '@vm-platform/sdk';
import { useState } from 'preact/hooks';
import { api, call, type Schemas, type VmAction, type VmStatus } from '../../api';
import { ConfirmDialog, ListState, Pager, ProblemAlert, RowButton } from '../../components/ui';
import { useAction, useLoad, useTitle } from '../../hooks';

type AdminVm = Schemas['AdminVmResponseDto'];

/** "Stop", "Destroy", …: the action's name as a button label. */
const label = (action: VmAction) => `${action.charAt(0).toUpperCase()}${action.slice(1)}`;
import { VmTable } from '../VmList';

export function AdminVms() {
  useTitle('All VMs');
  const [status, setStatus] = useState<VmStatus | ''>('');
  const [host, setHost] = useState('');
  const [namePrefix, setNamePrefix] = useState('');
  const [includeDestroyed, setIncludeDestroyed] = useState(false);
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [acting, setActing] = useState<{ vm: AdminVm; action: VmAction } | null>(null);
  const [reason, setReason] = useState('');
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
  const act = useAction(async ({ vm, action }: { vm: AdminVm; action: VmAction }) => {
    const fresh = await call(
      api.POST('/api/admin/vms/{id}/action', {
        params: { path: { id: vm.id } },
        body: { action, ...(reason.trim() ? { reason: reason.trim() } : {}) },
      }),
    );
    page.setData((p) => p && { ...p, items: p.items.map((v) => (v.id === fresh.id ? fresh : v)) });
    setActing(null);
  });
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
        {(items) => (
          <VmTable
            vms={items}
            admin
            actions={(vm) =>
              vm.allowed_actions.map((action) => (
                <RowButton
                  key={action}
                  label={label(action)}
                  ariaLabel={`${label(action)} ${vm.name}`}
                  kind={action === 'destroy' ? 'danger' : 'secondary'}
                  onClick={() => {
                    act.setProblem(null);
                    setReason('');
                    setActing({ vm, action });
                  }}
                />
              ))
            }
          />
        )}
      </ListState>
      <Pager label="All VMs" cursors={cursors} next={page.data?.next_cursor} onPage={setCursors} />
      <ConfirmDialog
        open={!!acting}
        title={acting ? `${label(acting.action)} ${acting.vm.name}?` : ''}
        confirmLabel={acting ? label(acting.action) : ''}
        danger={acting?.action === 'destroy'}
        busy={act.busy}
        onCancel={() => {
          setActing(null);
        }}
        onConfirm={() => {
          if (acting) void act.run(acting);
        }}
      >
        {acting && (
          <p>
            {acting.vm.owner.username} ({acting.vm.owner.email}) owns this VM; the action is recorded as an admin event with the reason.
            {acting.action === 'destroy' && ' Destroying cannot be undone.'}
          </p>
        )}
        <div class="field">
          <label for="admin-vm-reason">Reason</label>
          <input
            id="admin-vm-reason"
            maxLength={500}
            value={reason}
            onInput={(e) => {
              setReason(e.currentTarget.value);
            }}
          />
        </div>
        <ProblemAlert problem={act.problem} />
      </ConfirmDialog>
    </section>
  );
}
