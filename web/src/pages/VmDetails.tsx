import { useEffect, useMemo, useState } from 'preact/hooks';
import { Link } from 'wouter-preact';
import { api, call, idempotencyKey, problemOf, type Problem, type Schemas, type Vm, type VmAction, type VmEvent } from '../api';
import { MetadataRows, rowsFrom, valueFrom, type MetadataRow } from '../components/MetadataRows';
import { MetricChart } from '../components/MetricChart';
import { ConfirmDialog, isTransitional, ProblemAlert, Spinner, StatusBadge } from '../components/ui';
import { useUserEvents } from '../events';
import { formatDuration, formatMb, formatTime } from '../format';
import { useAction, useLoad, useTicker, useTitle } from '../hooks';

const ACTION_LABELS: Record<VmAction, string> = { start: 'Start', stop: 'Stop', restart: 'Restart', destroy: 'Destroy', resize: 'Resize…', rebuild: 'Rebuild…' };
const RANGES = [
  { label: 'Last hour', seconds: 3600 },
  { label: 'Last 6 hours', seconds: 6 * 3600 },
  { label: 'Last 24 hours', seconds: 86400 },
  { label: 'Last 7 days', seconds: 7 * 86400 },
];

export function VmDetails({ id }: { id: string }) {
  const vm = useLoad(async (signal) => ({ vm: await call(api.GET('/api/vms/{id}', { params: { path: { id } }, signal })), at: Date.now() }), [id]);
  const events = useLoad((signal) => call(api.GET('/api/events', { params: { query: { vm_id: id, limit: 50 } }, signal })), [id]);
  useTitle(vm.data ? vm.data.vm.name : 'VM');

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
            {current.status === 'provisioning' ? 'Provisioning: this can take a few minutes on real hardware.' : `${current.status[0].toUpperCase()}${current.status.slice(1)}…`} The page updates by
            itself.
          </span>
        </div>
      )}
      <ProblemAlert problem={vm.problem} />
      <div class="grid">
        <Overview vm={current} fetchedAt={vm.data.at} />
        <Connection vm={current} />
        <Actions vm={current} onChanged={(fresh) => vm.setData(() => ({ vm: fresh, at: Date.now() }))} />
        <MetadataEditor vm={current} onSaved={(fresh) => vm.setData(() => ({ vm: fresh, at: Date.now() }))} />
      </div>
      {current.status !== 'destroyed' && (
        <Snapshots vm={current} generation={snapshotGeneration} onVmChanged={(fresh) => vm.setData(() => ({ vm: fresh, at: Date.now() }))} />
      )}
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
      {vm.ssh_keys && vm.ssh_keys.length > 0 && (
        <p class="muted">Keys installed: {vm.ssh_keys.map((k) => k.name).join(', ')}</p>
      )}
    </section>
  );
}

function Actions({ vm, onChanged }: { vm: Vm; onChanged: (vm: Vm) => void }) {
  const [dialog, setDialog] = useState<'destroy' | 'resize' | 'rebuild' | null>(null);
  const act = useAction(async (body: VmActionBody) => {
    const fresh = await call(api.POST('/api/vms/{id}/action', { params: { path: { id: vm.id }, header: { 'Idempotency-Key': idempotencyKey() } }, body }));
    onChanged(fresh);
  });
  const confirmed = (body: VmActionBody) => void act.run(body).then((ok) => ok && setDialog(null));
  return (
    <section class="card" aria-labelledby="actions-title">
      <h2 id="actions-title">Actions</h2>
      <div class="button-row">
        {vm.allowed_actions.length === 0 && <p class="muted">No action is possible while the VM is {vm.status}.</p>}
        {vm.pending_operation && <p class="muted">A snapshot is being {vm.pending_operation === 'snapshot_create' ? 'taken' : 'deleted'}: only destroy is possible meanwhile.</p>}
        {vm.allowed_actions.map((action) => (
          <button
            type="button"
            key={action}
            class={action === 'destroy' ? 'danger' : 'secondary'}
            disabled={act.busy}
            onClick={() => (action === 'destroy' || action === 'resize' || action === 'rebuild' ? setDialog(action) : void act.run({ action }))}
          >
            {ACTION_LABELS[action]}
          </button>
        ))}
      </div>
      {vm.status === 'running' && <p class="muted">Resizing needs the VM stopped (the hypervisor changes its definition; the guest sees it at the next boot).</p>}
      {act.busy && <Spinner label="Sending…" />}
      {!dialog && <ProblemAlert problem={act.problem} />}
      <ConfirmDialog
        open={dialog === 'destroy'}
        title={`Destroy ${vm.name}?`}
        confirmLabel="Destroy"
        danger
        busy={act.busy}
        onCancel={() => setDialog(null)}
        onConfirm={() => confirmed({ action: 'destroy' })}
      >
        <p>The machine, its disk and its snapshots are deleted. Its {vm.cost} credits are not refunded.</p>
        <ProblemAlert problem={act.problem} />
      </ConfirmDialog>
      {dialog === 'resize' && <ResizeDialog vm={vm} busy={act.busy} problem={act.problem} onCancel={() => setDialog(null)} onConfirm={confirmed} />}
      {dialog === 'rebuild' && <RebuildDialog vm={vm} busy={act.busy} problem={act.problem} onCancel={() => setDialog(null)} onConfirm={confirmed} />}
    </section>
  );
}

type VmActionBody = Schemas['VmActionDto'];

/** The new size, and what it costs: the price of the new size (POST /api/vms/quota-check) minus the VM's. */
function ResizeDialog(props: { vm: Vm; busy: boolean; problem: Problem | null; onCancel: () => void; onConfirm: (body: VmActionBody) => void }) {
  const { vm } = props;
  const [size, setSize] = useState({ ram_mb: vm.ram_mb, cpu_cores: vm.cpu_cores, disk_gb: vm.disk_gb });
  const [price, setPrice] = useState<{ cost: number; balance: number } | null>(null);
  const [priceProblem, setPriceProblem] = useState<Problem | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    const timer = setTimeout(() => {
      call(api.POST('/api/vms/quota-check', { body: size, signal: controller.signal }))
        .then((q) => (setPrice({ cost: q.cost, balance: q.balance }), setPriceProblem(null)))
        .catch((err: unknown) => !controller.signal.aborted && (setPrice(null), setPriceProblem(problemOf(err))));
    }, 200);
    return () => (clearTimeout(timer), controller.abort());
  }, [size.ram_mb, size.cpu_cores, size.disk_gb]);
  const difference = price ? price.cost - vm.cost : null;
  const field = (key: keyof typeof size, label: string, min: number, max: number, step: number) => (
    <label>
      {label}
      <input
        type="number"
        name={key}
        min={key === 'disk_gb' ? vm.disk_gb : min}
        max={max}
        step={step}
        value={size[key]}
        onInput={(e) => setSize((s) => ({ ...s, [key]: Number(e.currentTarget.value) }))}
      />
    </label>
  );
  return (
    <ConfirmDialog
      open
      title={`Resize ${vm.name}`}
      confirmLabel="Resize"
      busy={props.busy}
      onCancel={props.onCancel}
      onConfirm={() => props.onConfirm({ action: 'resize', ...size })}
    >
      <div class="resize-fields">
        {field('ram_mb', 'Memory (MB)', 512, 65536, 256)}
        {field('cpu_cores', 'Cores', 1, 32, 1)}
        {field('disk_gb', 'Disk (GB, only grows)', 10, 2048, 1)}
      </div>
      <p data-testid="resize-price" role="status">
        {difference === null
          ? 'Pricing…'
          : difference > 0
            ? `Costs ${difference} more credits (${vm.cost} -> ${price!.cost}), debited now; your balance is ${price!.balance}.`
            : `No charge (${vm.cost} -> ${price!.cost}): a smaller VM refunds nothing.`}
      </p>
      <ProblemAlert problem={priceProblem} />
      <ProblemAlert problem={props.problem} />
    </ConfirmDialog>
  );
}

function RebuildDialog(props: { vm: Vm; busy: boolean; problem: Problem | null; onCancel: () => void; onConfirm: (body: VmActionBody) => void }) {
  const { vm } = props;
  const osTypes = useLoad((signal) => call(api.GET('/api/vms/os-types', { signal })), []);
  const [osType, setOsType] = useState(vm.os_type);
  return (
    <ConfirmDialog
      open
      title={`Rebuild ${vm.name}?`}
      confirmLabel="Rebuild"
      danger
      busy={props.busy}
      onCancel={props.onCancel}
      onConfirm={() => props.onConfirm(osType === vm.os_type ? { action: 'rebuild' } : { action: 'rebuild', os_type: osType })}
    >
      <p>The disk is wiped and the OS installed again (same name, size and address); its snapshots are deleted. Your SSH keys are installed again. Free.</p>
      <label>
        Operating system
        <select name="os_type" value={osType} onChange={(e) => setOsType(e.currentTarget.value)}>
          {(osTypes.data?.os_types ?? [vm.os_type]).map((os) => (
            <option value={os}>{os}</option>
          ))}
        </select>
      </label>
      <ProblemAlert problem={props.problem} />
    </ConfirmDialog>
  );
}

type Snapshot = Schemas['SnapshotResponseDto'];

/** Snapshots of the VM's disk: take, list, restore, delete. Refreshed by the VM's own events. */
function Snapshots({ vm, generation, onVmChanged }: { vm: Vm; generation: number; onVmChanged: (vm: Vm) => void }) {
  const list = useLoad((signal) => call(api.GET('/api/vms/{id}/snapshots', { params: { path: { id: vm.id }, query: { limit: 100 } }, signal })), [vm.id, generation]);
  const [name, setName] = useState('');
  const [restoring, setRestoring] = useState<Snapshot | null>(null);
  const settled = (vm.status === 'running' || vm.status === 'stopped') && !vm.pending_operation;
  const header = () => ({ 'Idempotency-Key': idempotencyKey() });
  const take = useAction(async () => {
    await call(api.POST('/api/vms/{id}/snapshots', { params: { path: { id: vm.id }, header: header() }, body: { name: name.trim() } }));
    setName('');
    list.reload();
  });
  const remove = useAction(async (s: Snapshot) => {
    await call(api.DELETE('/api/vms/{id}/snapshots/{snapshotId}', { params: { path: { id: vm.id, snapshotId: s.id }, header: header() } }));
    list.reload();
  });
  const restore = useAction(async (s: Snapshot) => {
    onVmChanged(await call(api.POST('/api/vms/{id}/snapshots/{snapshotId}/restore', { params: { path: { id: vm.id, snapshotId: s.id }, header: header() } })));
  });
  return (
    <section class="card" aria-labelledby="snapshots-title">
      <h2 id="snapshots-title">Snapshots</h2>
      <form class="button-row" onSubmit={(e) => (e.preventDefault(), void take.run())}>
        <label for="snapshot-name">Name</label>
        <input id="snapshot-name" value={name} placeholder="before-upgrade" pattern="[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?" required onInput={(e) => setName(e.currentTarget.value)} />
        <button type="submit" class="secondary" disabled={!settled || take.busy} aria-busy={take.busy}>
          Take snapshot
        </button>
      </form>
      <p class="muted">Charged once by the disk size (see the README), never refunded; the VM keeps running. Possible while it is running or stopped.</p>
      <ProblemAlert problem={take.problem ?? remove.problem ?? restore.problem ?? list.problem} />
      {list.data && list.data.items.length === 0 && <p class="muted">No snapshots.</p>}
      {list.data && list.data.items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Status</th>
              <th scope="col">Disk</th>
              <th scope="col">Taken</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.data.items.map((s) => (
              <tr key={s.id} data-snapshot={s.name}>
                <td>{s.name}</td>
                <td>{s.status}</td>
                <td>{s.size_gb} GB</td>
                <td>{formatTime(s.created_at)}</td>
                <td class="button-row">
                  <button type="button" class="secondary small" disabled={!settled || s.status !== 'available'} onClick={() => setRestoring(s)}>
                    Restore
                  </button>
                  <button type="button" class="danger small" disabled={!settled || (s.status !== 'available' && s.status !== 'failed') || remove.busy} onClick={() => void remove.run(s)}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ConfirmDialog
        open={restoring !== null}
        title={`Restore ${vm.name} to ${restoring?.name ?? ''}?`}
        confirmLabel="Restore"
        danger
        busy={restore.busy}
        onCancel={() => setRestoring(null)}
        onConfirm={() => restoring && void restore.run(restoring).then((ok) => ok && setRestoring(null))}
      >
        <p>The disk goes back to how it was at the snapshot; what was written since is lost. The VM comes back {vm.status}.</p>
        <ProblemAlert problem={restore.problem} />
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
  const [range, setRange] = useState(RANGES[0].seconds);
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
