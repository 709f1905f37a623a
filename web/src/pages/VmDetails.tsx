import { useEffect, useMemo, useState } from 'preact/hooks';
import { Link } from 'wouter-preact';
import { api, call, idempotencyKey, refreshMe, type Problem, type Schemas, type Vm, type VmAction, type VmEvent } from '../api';
import { MetadataRows, rowsFrom, valueFrom, type MetadataRow } from '../components/MetadataRows';
import { MetricChart } from '../components/MetricChart';
import {
  ACTIONS_COLUMN,
  ConfirmDialog,
  Field,
  htmlPattern,
  isTransitional,
  ListState,
  ProblemAlert,
  RowButton,
  SizeField,
  Spinner,
  StatusBadge,
  TableRegion,
  withinLimits,
} from '../components/ui';
import { useUserEvents } from '../events';
import { formatDuration, formatMb, formatTime } from '../format';
import { useAction, useLoad, useQuotaCheck, useTicker, useTitle } from '../hooks';

const ACTION_LABELS: Record<VmAction, string> = {
  start: 'Start',
  stop: 'Stop',
  restart: 'Restart',
  destroy: 'Destroy',
  resize: 'Resize',
  rebuild: 'Rebuild',
};
/** Actions that ask first (a dialog), the others are sent at once. */
type DialogAction = Extract<VmAction, 'destroy' | 'resize' | 'rebuild'>;
const ASKS_FIRST: readonly VmAction[] = ['destroy', 'resize', 'rebuild'] satisfies DialogAction[];
type VmActionBody = Schemas['VmActionDto'];
type Snapshot = Schemas['SnapshotResponseDto'];
const LIMITS = __VM_LIMITS__;
const RANGES = [
  { label: 'Last hour', seconds: 3600 },
  { label: 'Last 6 hours', seconds: 6 * 3600 },
  { label: 'Last 24 hours', seconds: 86400 },
  { label: 'Last 7 days', seconds: 7 * 86400 },
] as const;

export function VmDetails({ id }: { id: string }) {
  const vm = useLoad(
    async (signal) => ({ vm: await call(api.GET('/api/vms/{id}', { params: { path: { id } }, signal })), at: Date.now() }),
    [id],
  );
  const events = useLoad((signal) => call(api.GET('/api/events', { params: { query: { vm_id: id, limit: 50 } }, signal })), [id]);
  useTitle(vm.data ? vm.data.vm.name : 'VM');

  // Snapshot events, a rebuild (it removes them) and a destroy re-read the snapshot list.
  const [snapshotGeneration, setSnapshotGeneration] = useState(0);
  useUserEvents((e) => {
    if (e.vm_id !== id) return;
    if (e.action.startsWith('vm.snapshot') || e.action === 'vm.rebuilt' || e.action === 'vm.destroyed') setSnapshotGeneration((g) => g + 1);
    events.setData((page) => page && (page.items.some((x) => x.id === e.id) ? page : { ...page, items: [e, ...page.items] }));
    vm.reload();
  });

  if (vm.problem && !vm.data) {
    return (
      <section>
        <h1>VM</h1>
        <ProblemAlert problem={vm.problem} />
        <Link href="/vms">Back to your VMs</Link>
      </section>
    );
  }
  if (!vm.data) return <Spinner label="Loading the VM…" />;
  const current = vm.data.vm;
  /** An answer that carries the VM (an action, a save, a restore) replaces the one shown. */
  const replace = (fresh: Vm) => {
    vm.setData(() => ({ vm: fresh, at: Date.now() }));
  };
  return (
    <section aria-labelledby="vm-title" class="vm-details">
      <p class="crumbs">
        <Link href="/vms">Your VMs</Link> /
      </p>
      <div class="page-head">
        <h1 id="vm-title">{current.name}</h1>
        <StatusBadge status={current.status} />
      </div>
      {isTransitional(current.status) && (
        <div class="progress" role="status">
          <progress aria-label={`${current.status} in progress`} />
          <span>
            {current.status === 'provisioning'
              ? 'Provisioning: this can take a few minutes on real hardware.'
              : `${current.status.charAt(0).toUpperCase()}${current.status.slice(1)}…`}{' '}
            The page updates by itself.
          </span>
        </div>
      )}
      <ProblemAlert problem={vm.problem} />
      <div class="grid">
        <Overview vm={current} fetchedAt={vm.data.at} />
        <Connection vm={current} />
        <Actions vm={current} onChanged={replace} />
        <MetadataEditor vm={current} onSaved={replace} />
      </div>
      {current.status !== 'destroyed' && <Snapshots vm={current} generation={snapshotGeneration} onVmChanged={replace} />}
      <Metrics vmId={current.id} />
      <section aria-labelledby="timeline-title" class="card">
        <h2 id="timeline-title">Events</h2>
        <ProblemAlert problem={events.problem} />
        {events.data && <Timeline events={events.data.items} />}
      </section>
    </section>
  );
}

function Overview({ vm, fetchedAt }: { vm: Vm; fetchedAt: number }) {
  const now = useTicker(vm.status === 'running');
  const uptime = vm.uptime_seconds + (vm.status === 'running' ? Math.max(0, (now - fetchedAt) / 1000) : 0);
  return (
    <section class="card" aria-labelledby="overview-title">
      <h2 id="overview-title">Overview</h2>
      <dl class="facts">
        <dt>OS</dt>
        <dd>{vm.os_type}</dd>
        <dt>Size</dt>
        <dd>
          {formatMb(vm.ram_mb)} · {vm.disk_gb} GB · {vm.cpu_cores} {vm.cpu_cores === 1 ? 'core' : 'cores'}
        </dd>
        <dt>Cost</dt>
        <dd>{vm.cost} credits</dd>
        <dt>Uptime</dt>
        <dd data-testid="uptime">{formatDuration(uptime)}</dd>
        <dt>Created</dt>
        <dd>{formatTime(vm.created_at)}</dd>
        <dt>User data</dt>
        <dd data-testid="user-data-status">
          {vm.user_data_status === 'none' ? 'none' : `${vm.user_data_status} (${vm.user_data_size ?? 0} bytes)`}
        </dd>
      </dl>
    </section>
  );
}

function Connection({ vm }: { vm: Vm }) {
  const [copied, setCopied] = useState<'yes' | 'no' | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(vm.ssh_command ?? '');
      setCopied('yes');
    } catch {
      // No clipboard (a console served over plain http to another host): select it for Ctrl+C.
      const field = document.getElementById('ssh-command') as HTMLInputElement | null;
      field?.select();
      setCopied('no');
    }
  };
  return (
    <section class="card" aria-labelledby="connection-title">
      <h2 id="connection-title">Connection</h2>
      <dl class="facts">
        <dt>Address</dt>
        <dd>{vm.ip_address ?? '—'}</dd>
        <dt>SSH port</dt>
        <dd>{vm.ssh_port ?? '—'}</dd>
        <dt>Login user</dt>
        <dd>{vm.ssh_user ?? '—'}</dd>
      </dl>
      {vm.ssh_command ? (
        <div class="copy">
          <label for="ssh-command">SSH command</label>
          <div class="copy-row">
            <input id="ssh-command" readOnly value={vm.ssh_command} onFocus={(e) => e.currentTarget.select()} />
            <button type="button" class="secondary" onClick={() => void copy()}>
              Copy
            </button>
          </div>
          <span role="status" class="muted">
            {copied === 'yes' ? 'Copied to the clipboard.' : copied === 'no' ? 'Selected: press Ctrl+C to copy.' : ''}
          </span>
        </div>
      ) : (
        <p class="muted">Connection details appear once the VM is running.</p>
      )}
      {vm.ssh_keys && vm.ssh_keys.length > 0 && <p class="muted">Keys installed: {vm.ssh_keys.map((k) => k.name).join(', ')}</p>}
    </section>
  );
}

function Actions({ vm, onChanged }: { vm: Vm; onChanged: (vm: Vm) => void }) {
  const [dialog, setDialog] = useState<DialogAction | null>(null);
  const act = useAction(async (body: VmActionBody) => {
    const fresh = await call(
      api.POST('/api/vms/{id}/action', {
        params: { path: { id: vm.id }, header: { 'Idempotency-Key': idempotencyKey() } },
        body,
      }),
    );
    onChanged(fresh);
    if (body.action === 'resize') void refreshMe(); // the price difference was debited
  });
  const close = () => {
    setDialog(null);
  };
  const confirmed = (body: VmActionBody) => {
    void act.run(body).then((ok) => {
      if (ok) close();
    });
  };
  const choose = (action: VmAction) => {
    act.setProblem(null);
    if (ASKS_FIRST.includes(action)) setDialog(action as DialogAction);
    else void act.run({ action });
  };
  const dialogProps = { vm, busy: act.busy, problem: act.problem, onCancel: close, onConfirm: confirmed };
  return (
    <section class="card" aria-labelledby="actions-title">
      <h2 id="actions-title">Actions</h2>
      <div class="button-row">
        {vm.allowed_actions.length === 0 && <p class="muted">No action is possible while the VM is {vm.status}.</p>}
        {vm.allowed_actions.map((action) => (
          <button
            type="button"
            key={action}
            class={action === 'destroy' ? 'danger' : 'secondary'}
            disabled={act.busy}
            onClick={() => {
              choose(action);
            }}
          >
            {ACTION_LABELS[action]}
          </button>
        ))}
      </div>
      {vm.pending_operation && (
        <p class="muted">
          A snapshot is being {vm.pending_operation === 'snapshot_create' ? 'taken' : 'deleted'}: only destroy is possible meanwhile.
        </p>
      )}
      {vm.status === 'running' && !vm.pending_operation && (
        <p class="muted">Stop the VM to resize it: the guest sees its new size at the next boot.</p>
      )}
      {act.busy && <Spinner label="Sending…" />}
      {!dialog && <ProblemAlert problem={act.problem} />}
      <ConfirmDialog
        open={dialog === 'destroy'}
        title={`Destroy ${vm.name}?`}
        confirmLabel="Destroy"
        danger
        busy={act.busy}
        onCancel={close}
        onConfirm={() => {
          confirmed({ action: 'destroy' });
        }}
      >
        <p>The machine, its disk and its snapshots are deleted. Its {vm.cost} credits are not refunded.</p>
        <ProblemAlert problem={act.problem} />
      </ConfirmDialog>
      {dialog === 'resize' && <ResizeDialog {...dialogProps} />}
      {dialog === 'rebuild' && <RebuildDialog {...dialogProps} />}
    </section>
  );
}

interface ActionDialogProps {
  vm: Vm;
  busy: boolean;
  problem: Problem | null;
  onCancel: () => void;
  onConfirm: (body: VmActionBody) => void;
}

/** The new size and what it costs: the price of that size (quota-check) less what the VM cost. */
function ResizeDialog({ vm, busy, problem, onCancel, onConfirm }: ActionDialogProps) {
  const [ramMb, setRamMb] = useState(vm.ram_mb);
  const [diskGb, setDiskGb] = useState(vm.disk_gb);
  const [cores, setCores] = useState(vm.cpu_cores);
  // A disk only grows: from the VM's own size up.
  const diskLimits = { min: vm.disk_gb, max: LIMITS.disk_gb.max };
  const valid = withinLimits(ramMb, LIMITS.ram_mb) && withinLimits(diskGb, diskLimits) && withinLimits(cores, LIMITS.cpu_cores);
  const size = { ram_mb: ramMb, disk_gb: diskGb, cpu_cores: cores };
  const { quota, problem: priceProblem } = useQuotaCheck(valid ? size : null);
  const difference = quota ? quota.cost - vm.cost : null;
  return (
    <ConfirmDialog
      open
      title={`Resize ${vm.name}`}
      confirmLabel={busy ? 'Resizing…' : 'Resize'}
      busy={busy}
      onCancel={onCancel}
      onConfirm={() => {
        if (valid) onConfirm({ action: 'resize', ...size });
      }}
    >
      <SizeField label="Memory (MB)" unit="MB" limits={LIMITS.ram_mb} value={ramMb} onValue={setRamMb} />
      <SizeField label="Disk (GB)" unit="GB" limits={diskLimits} value={diskGb} onValue={setDiskGb} />
      <SizeField label="CPU cores" limits={LIMITS.cpu_cores} value={cores} onValue={setCores} />
      <p data-testid="resize-price" role="status">
        {!valid
          ? 'Enter a size within the limits to see its price.'
          : quota === null || difference === null
            ? 'Pricing…'
            : difference > 0
              ? `Costs ${difference} more credits (${vm.cost} → ${quota.cost}), debited now; your balance is ${quota.balance}.`
              : `No charge (${vm.cost} → ${quota.cost}): a smaller size refunds nothing.`}
      </p>
      {quota && difference !== null && difference > quota.balance && (
        <p class="warning" role="status">
          Not enough credits for this size.
        </p>
      )}
      <ProblemAlert problem={priceProblem} />
      <ProblemAlert problem={problem} />
    </ConfirmDialog>
  );
}

/** Reinstall: the same VM (id, name, size, address) from a fresh disk, with the OS it has or another one. */
function RebuildDialog({ vm, busy, problem, onCancel, onConfirm }: ActionDialogProps) {
  const osTypes = useLoad((signal) => call(api.GET('/api/vms/os-types', { signal })), []);
  const [osType, setOsType] = useState(vm.os_type);
  return (
    <ConfirmDialog
      open
      title={`Rebuild ${vm.name}?`}
      confirmLabel={busy ? 'Rebuilding…' : 'Rebuild'}
      danger
      busy={busy}
      onCancel={onCancel}
      onConfirm={() => {
        onConfirm(osType === vm.os_type ? { action: 'rebuild' } : { action: 'rebuild', os_type: osType });
      }}
    >
      <p>
        The disk is wiped and the operating system installed again; the VM keeps its name, size and address, your SSH keys are installed
        again, and its snapshots are deleted. Free.
      </p>
      <Field label="Operating system">
        {(fieldId) => (
          <select
            id={fieldId}
            value={osType}
            onChange={(e) => {
              setOsType(e.currentTarget.value);
            }}
          >
            {(osTypes.data?.os_types ?? [vm.os_type]).map((os) => (
              <option value={os}>{os}</option>
            ))}
          </select>
        )}
      </Field>
      <ProblemAlert problem={osTypes.problem} />
      <ProblemAlert problem={problem} />
    </ConfirmDialog>
  );
}

/** Snapshots of the VM's disk: take, list, restore, delete. Re-read when the VM's snapshot events arrive. */
function Snapshots({ vm, generation, onVmChanged }: { vm: Vm; generation: number; onVmChanged: (vm: Vm) => void }) {
  const list = useLoad(
    (signal) => call(api.GET('/api/vms/{id}/snapshots', { params: { path: { id: vm.id }, query: { limit: 100 } }, signal })),
    [vm.id, generation],
  );
  const [name, setName] = useState('');
  const [confirming, setConfirming] = useState<{ what: 'restore' | 'delete'; snapshot: Snapshot } | null>(null);
  const settled = (vm.status === 'running' || vm.status === 'stopped') && !vm.pending_operation;
  const take = useAction(async () => {
    await call(
      api.POST('/api/vms/{id}/snapshots', {
        params: { path: { id: vm.id }, header: { 'Idempotency-Key': idempotencyKey() } },
        body: { name: name.trim() },
      }),
    );
    setName('');
    list.reload();
    void refreshMe(); // its price was debited
  });
  const operate = useAction(async ({ what, snapshot }: { what: 'restore' | 'delete'; snapshot: Snapshot }) => {
    const params = { path: { id: vm.id, snapshot_id: snapshot.id }, header: { 'Idempotency-Key': idempotencyKey() } };
    if (what === 'restore') onVmChanged(await call(api.POST('/api/vms/{id}/snapshots/{snapshot_id}/restore', { params })));
    else await call(api.DELETE('/api/vms/{id}/snapshots/{snapshot_id}', { params }));
    list.reload();
    setConfirming(null);
  });
  const ask = (what: 'restore' | 'delete', snapshot: Snapshot) => () => {
    operate.setProblem(null);
    setConfirming({ what, snapshot });
  };
  return (
    <section class="card" aria-labelledby="snapshots-title">
      <h2 id="snapshots-title">Snapshots</h2>
      <ListState state={list} empty={<p class="muted">No snapshots.</p>}>
        {(items) => (
          <TableRegion label={`Snapshots of ${vm.name}`} columns={['Name', 'Status', 'Disk', 'Taken', ACTIONS_COLUMN]}>
            <tbody>
              {items.map((s) => (
                <tr key={s.id} data-snapshot={s.name}>
                  <td>{s.name}</td>
                  <td>{s.status}</td>
                  <td>{s.size_gb} GB</td>
                  <td>{formatTime(s.created_at)}</td>
                  <td class="button-row">
                    <RowButton
                      label="Restore"
                      ariaLabel={`Restore snapshot ${s.name}`}
                      disabled={!settled || s.status !== 'available'}
                      onClick={ask('restore', s)}
                    />
                    <RowButton
                      label="Delete"
                      ariaLabel={`Delete snapshot ${s.name}`}
                      kind="danger"
                      disabled={!settled || (s.status !== 'available' && s.status !== 'failed')}
                      onClick={ask('delete', s)}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </TableRegion>
        )}
      </ListState>
      <form onSubmit={(e) => (e.preventDefault(), void take.run())}>
        <Field
          label="Snapshot name"
          hint="Lowercase letters, digits and inner hyphens. Charged once from the disk size, never refunded; the VM keeps running."
        >
          {(fieldId, hint) => (
            <input
              id={fieldId}
              aria-describedby={hint}
              required
              pattern={htmlPattern(LIMITS.snapshot_name.pattern)}
              maxLength={LIMITS.snapshot_name.maxLength}
              placeholder="before-upgrade"
              value={name}
              onInput={(e) => {
                setName(e.currentTarget.value);
              }}
            />
          )}
        </Field>
        <ProblemAlert problem={take.problem} />
        <button type="submit" class="secondary" disabled={!settled || take.busy} aria-busy={take.busy}>
          {take.busy ? 'Taking…' : 'Take snapshot'}
        </button>
      </form>
      <ConfirmDialog
        open={confirming !== null}
        title={`${confirming?.what === 'delete' ? 'Delete' : 'Restore'} snapshot ${confirming?.snapshot.name ?? ''}?`}
        confirmLabel={confirming?.what === 'delete' ? 'Delete' : 'Restore'}
        danger
        busy={operate.busy}
        onCancel={() => {
          setConfirming(null);
        }}
        onConfirm={() => {
          if (confirming) void operate.run(confirming);
        }}
      >
        <p>
          {confirming?.what === 'delete'
            ? 'The snapshot is removed for good; its credits are not refunded.'
            : `The disk goes back to how it was when the snapshot was taken; what was written since is lost. The VM comes back ${vm.status}.`}
        </p>
        <ProblemAlert problem={operate.problem} />
      </ConfirmDialog>
    </section>
  );
}

/** The same keys with the same values, in any order. */
function sameRows(a: MetadataRow[], b: MetadataRow[]): boolean {
  const byKey = new Map(a.map((r) => [r.key, r.value]));
  return a.length === b.length && byKey.size === a.length && b.every((r) => byKey.get(r.key) === r.value);
}

function MetadataEditor({ vm, onSaved }: { vm: Vm; onSaved: (vm: Vm) => void }) {
  const original = (vm.metadata ?? {}) as Record<string, unknown>;
  const [rows, setRows] = useState<MetadataRow[]>(() => rowsFrom(original));
  const [saved, setSaved] = useState(false);
  const originalJson = JSON.stringify(original);
  // The saved (or live-updated) metadata replaces the rows only when it says something else: PostgreSQL
  // returns jsonb keys in its own order, and reordering the rows under the user's pointer after a save
  // made a click land on another row.
  useEffect(() => setRows((current) => (sameRows(current, rowsFrom(original)) ? current : rowsFrom(original))), [originalJson]);
  const save = useAction(async () => {
    const next: Record<string, unknown> = {};
    for (const r of rows) if (r.key.trim()) next[r.key.trim()] = valueFrom(r.value, original[r.key.trim()]);
    // PATCH merges: send the changed keys, and null for each removed one.
    const patch: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(next)) if (JSON.stringify(original[k]) !== JSON.stringify(v)) patch[k] = v;
    for (const k of Object.keys(original)) if (!(k in next)) patch[k] = null;
    const fresh = await call(api.PATCH('/api/vms/{id}', { params: { path: { id: vm.id } }, body: { metadata: patch } }));
    onSaved(fresh);
    setSaved(true);
  });
  return (
    <section class="card" aria-labelledby="metadata-title">
      <h2 id="metadata-title">Metadata</h2>
      <form onSubmit={(e) => (e.preventDefault(), setSaved(false), void save.run())}>
        <MetadataRows idPrefix="vm-meta" rows={rows} onChange={(r) => (setRows(r), setSaved(false))} />
        <ProblemAlert problem={save.problem} />
        <div class="button-row">
          <button type="submit" class="primary" disabled={save.busy} aria-busy={save.busy}>
            {save.busy ? 'Saving…' : 'Save metadata'}
          </button>
          <span role="status" class="muted">
            {saved ? 'Saved.' : ''}
          </span>
        </div>
      </form>
    </section>
  );
}

function Metrics({ vmId }: { vmId: string }) {
  const [range, setRange] = useState<number>(RANGES[0].seconds);
  const [generation, setGeneration] = useState(0);
  const { from, to } = useMemo(() => {
    const end = Date.now();
    return { from: new Date(end - range * 1000).toISOString(), to: new Date(end).toISOString() };
  }, [range, generation]);
  return (
    <section class="card" aria-labelledby="metrics-title">
      <div class="page-head">
        <h2 id="metrics-title">Resource usage</h2>
        <div class="button-row">
          <label for="metrics-range">Range</label>
          <select id="metrics-range" value={range} onChange={(e) => setRange(Number(e.currentTarget.value))}>
            {RANGES.map((r) => (
              <option value={r.seconds}>{r.label}</option>
            ))}
          </select>
          <button type="button" class="secondary small" onClick={() => setGeneration((g) => g + 1)}>
            Refresh
          </button>
        </div>
      </div>
      <div class="charts">
        <MetricChart vmId={vmId} name="cpu_percent" label="CPU" unit="%" from={from} to={to} />
        <MetricChart vmId={vmId} name="memory_used_mb" label="Memory" unit="MB" from={from} to={to} />
        <MetricChart vmId={vmId} name="disk_used_gb" label="Disk" unit="GB" from={from} to={to} />
      </div>
    </section>
  );
}

export function Timeline({ events, showVm }: { events: VmEvent[]; showVm?: boolean }) {
  if (events.length === 0) return <p class="muted">No events yet.</p>;
  return (
    <ol class="timeline">
      {events.map((e) => (
        <li key={e.id} class={`sev-${e.severity}`} data-action={e.action}>
          <time dateTime={e.created_at}>{formatTime(e.created_at)}</time>
          <span class={`severity severity-${e.severity}`}>{e.severity}</span>
          <code>{e.action}</code>
          <span>{e.message}</span>
          {showVm && e.vm_id && <span class="muted">VM {e.vm_id.slice(0, 8)}</span>}
        </li>
      ))}
    </ol>
  );
}
