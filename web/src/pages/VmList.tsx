import { VM_STATUSES } from '@vm-platform/sdk';
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Link, useSearchParams } from 'wouter-preact';
import { api, call, type Schemas, type Vm, type VmStatus } from '../api';
import { ACTIONS_COLUMN, ListState, Pager, StatusBadge, TableRegion } from '../components/ui';
import { useUserEvents } from '../events';
import { formatMb, formatTime } from '../format';
import { useLoad, useTitle } from '../hooks';

const PAGE_SIZE = 20;

/** Filters and page live in the URL (?name=&status=&destroyed=1&page=<cursor,...>), so reload and back keep them. */
function useListParams() {
  const [params, setParams] = useSearchParams();
  const name = params.get('name') ?? '';
  const status = (params.get('status') ?? '') as VmStatus | '';
  const includeDestroyed = params.get('destroyed') === '1';
  const cursors: (string | undefined)[] = [undefined, ...(params.get('page')?.split(',').filter(Boolean) ?? [])];
  const update = (next: { name?: string; status?: VmStatus | ''; includeDestroyed?: boolean; cursors?: (string | undefined)[] }) => {
    const p = new URLSearchParams();
    const n = (next.name ?? name).trim().toLowerCase();
    if (n) p.set('name', n);
    const s = next.status ?? status;
    if (s) p.set('status', s);
    if (next.includeDestroyed ?? includeDestroyed) p.set('destroyed', '1');
    const c = (next.cursors ?? [undefined]).slice(1).filter(Boolean);
    if (c.length) p.set('page', c.join(','));
    setParams(p);
  };
  return { name, status, includeDestroyed, cursors, update };
}

export function VmList() {
  useTitle('Your VMs');
  const { name, status, includeDestroyed, cursors, update } = useListParams();
  const [nameInput, setNameInput] = useState(name);
  useEffect(() => {
    setNameInput(name);
  }, [name]);
  const cursor = cursors[cursors.length - 1];
  // The API takes letters, digits and hyphens: anything else cannot match a VM name.
  const nameValid = /^[a-z0-9-]{0,63}$/.test(name);
  const page = useLoad(
    (signal) =>
      call(
        api.GET('/api/vms', {
          params: {
            query: {
              limit: PAGE_SIZE,
              name_prefix: (nameValid && name) || undefined,
              status: status || undefined,
              include_destroyed: includeDestroyed || undefined,
              cursor,
            },
          },
          signal,
        }),
      ),
    [name, status, includeDestroyed, cursor],
  );

  // Live status: any event about a VM on this page re-reads that VM; a new VM reloads the first page.
  useUserEvents((e) => {
    if (!e.vm_id) return;
    const shown = page.data?.items.some((vm) => vm.id === e.vm_id);
    if (shown) {
      void call(api.GET('/api/vms/{id}', { params: { path: { id: e.vm_id } } }))
        .then((fresh) => page.setData((p) => p && { ...p, items: p.items.map((vm) => (vm.id === fresh.id ? fresh : vm)) }))
        .catch(() => undefined);
    } else if (e.action === 'vm.create' && !cursor) {
      page.reload();
    }
  });

  return (
    <section aria-labelledby="vms-title">
      <div class="page-head">
        <h1 id="vms-title">Your VMs</h1>
        <Link href="/vms/new" class="button primary">
          Launch a VM
        </Link>
      </div>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          update({ name: nameInput });
        }}
        aria-label="Filter VMs"
        role="search"
      >
        <div class="field inline">
          <label for="vm-name-filter">Name starts with</label>
          <input
            id="vm-name-filter"
            type="search"
            maxLength={63}
            autocomplete="off"
            spellcheck={false}
            aria-invalid={!nameValid}
            aria-describedby={nameValid ? undefined : 'vm-name-filter-hint'}
            value={nameInput}
            onInput={(e) => {
              setNameInput(e.currentTarget.value);
            }}
            onChange={(e) => {
              update({ name: e.currentTarget.value });
            }}
          />
        </div>
        <div class="field inline">
          <label for="vm-status-filter">Status</label>
          <select id="vm-status-filter" value={status} onChange={(e) => update({ status: e.currentTarget.value as VmStatus | '' })}>
            <option value="">Any</option>
            {VM_STATUSES.map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </div>
        <div class="field inline checkbox">
          <input
            id="vm-destroyed-filter"
            type="checkbox"
            checked={includeDestroyed}
            onChange={(e) => update({ includeDestroyed: e.currentTarget.checked })}
          />
          <label for="vm-destroyed-filter">Include destroyed</label>
        </div>
      </form>
      {!nameValid && (
        <p class="warning" role="status" id="vm-name-filter-hint">
          VM names have only letters, digits and hyphens: no VM starts with “{name}”.
        </p>
      )}
      <ListState
        state={page}
        loadingLabel="Loading VMs…"
        empty={
          <div class="empty">
            {name || status || includeDestroyed || cursor ? (
              <p>No VMs match these filters.</p>
            ) : (
              <>
                <p>You have no VMs yet.</p>
                <Link href="/vms/new" class="button primary">
                  Launch your first VM
                </Link>
              </>
            )}
          </div>
        }
      >
        {(items) => <VmTable vms={items} />}
      </ListState>
      <Pager label="VM list" cursors={cursors} next={page.data?.next_cursor} onPage={(c) => update({ cursors: c })} />
    </section>
  );
}

/** The VM table; `actions` fills a last column of row buttons (the admin's). */
export function VmTable<T extends Vm | Schemas['AdminVmResponseDto']>({
  vms,
  admin,
  actions,
}: {
  vms: T[];
  admin?: boolean;
  actions?: (vm: T) => ComponentChildren;
}) {
  return (
    <TableRegion
      label="VMs"
      columns={['Name', 'Status', admin && 'Owner', admin && 'Host', 'OS', 'Size', 'Address', 'Cost', 'Created', actions && ACTIONS_COLUMN]}
    >
      <tbody>
        {vms.map((vm) => (
          <tr key={vm.id} data-vm={vm.name}>
            <td>{admin ? vm.name : <Link href={`/vms/${vm.id}`}>{vm.name}</Link>}</td>
            <td>
              <StatusBadge status={vm.status} />
            </td>
            {admin && 'owner' in vm && <td>{vm.owner ? `${vm.owner.username} (${vm.owner.email})` : vm.user_id}</td>}
            {admin && 'host' in vm && <td>{vm.host ?? '—'}</td>}
            <td>{vm.os_type}</td>
            <td>
              {formatMb(vm.ram_mb)} · {vm.disk_gb} GB · {vm.cpu_cores} {vm.cpu_cores === 1 ? 'core' : 'cores'}
            </td>
            <td>{vm.ip_address ? `${vm.ip_address}:${vm.ssh_port ?? 22}` : '—'}</td>
            <td>{vm.cost}</td>
            <td>{formatTime(vm.created_at)}</td>
            {actions && <td>{actions(vm)}</td>}
          </tr>
        ))}
      </tbody>
    </TableRegion>
  );
}
