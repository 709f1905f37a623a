import { Fragment } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Link, useLocation } from 'wouter-preact';
import { api, call, idempotencyKey, refreshMe, type Schemas } from '../api';
import { MetadataRows, type MetadataRow } from '../components/MetadataRows';
import { ConfirmDialog, Field, htmlPattern, ProblemAlert, SizeField, Spinner, withinLimits } from '../components/ui';
import { formatMb } from '../format';
import { useAction, useLoad, useQuotaCheck, useTitle } from '../hooks';

const LIMITS = __VM_LIMITS__;
const NAME_PATTERN = htmlPattern(LIMITS.name.pattern);
type QuotaUsage = Schemas['QuotaUsageDto'];
type Resource = keyof QuotaUsage['limits'];

const RESOURCE_LABELS: Record<Resource, string> = { vms: 'VMs', cpu_cores: 'CPU cores', ram_mb: 'Memory (MB)' };

/** Quota headroom: for each limited resource, what this VM would bring the use to. */
function Headroom({ usage, requested }: { usage: QuotaUsage; requested: Record<Resource, number> }) {
  const limited = (Object.keys(RESOURCE_LABELS) as Resource[]).filter((r) => (usage.limits[r] ?? 0) > 0);
  if (limited.length === 0) return <p class="muted">No quota limits on your account.</p>;
  return (
    <>
      <h3 class="subhead">Quota after this VM</h3>
      <dl class="cost" data-testid="headroom">
        {limited.map((r) => {
          const limit = usage.limits[r] ?? 0;
          const want = requested[r] ?? 0;
          const after = (usage.used[r] ?? 0) + (Number.isFinite(want) ? want : 0);
          return (
            <Fragment key={r}>
              <dt>{RESOURCE_LABELS[r]}</dt>
              <dd class={after > limit ? 'negative' : ''}>
                {after} of {limit}
              </dd>
            </Fragment>
          );
        })}
      </dl>
    </>
  );
}

export function LaunchVm() {
  useTitle('Launch a VM');
  const [, navigate] = useLocation();
  const catalog = useLoad(async (signal) => {
    const [os, keys, quota] = await Promise.all([
      call(api.GET('/api/vms/os-types', { signal })),
      call(api.GET('/api/ssh-keys', { params: { query: { limit: 100 } }, signal })),
      call(api.GET('/api/vms/quota', { signal })),
    ]);
    return { osTypes: os.os_types, keys: keys.items, quota };
  }, []);
  const [name, setName] = useState('');
  const [osType, setOsType] = useState('');
  const [ramMb, setRamMb] = useState(1024);
  const [diskGb, setDiskGb] = useState(20);
  const [cores, setCores] = useState(2);
  const [keyIds, setKeyIds] = useState<string[]>([]);
  const [metadata, setMetadata] = useState<MetadataRow[]>([]);
  const [userData, setUserData] = useState('');
  const [confirming, setConfirming] = useState(false);
  const [key, setKey] = useState(idempotencyKey);

  useEffect(() => {
    if (!osType && catalog.data?.osTypes.length)
      setOsType(catalog.data.osTypes.includes('ubuntu-22.04') ? 'ubuntu-22.04' : (catalog.data.osTypes[0] ?? ''));
  }, [catalog.data]);

  // Live cost: quota-check (debounced) whenever the size changes.
  const sizeValid = withinLimits(ramMb, LIMITS.ram_mb) && withinLimits(diskGb, LIMITS.disk_gb) && withinLimits(cores, LIMITS.cpu_cores);
  const { quota, problem: quotaProblem } = useQuotaCheck(
    sizeValid ? { os_type: osType || undefined, ram_mb: ramMb, disk_gb: diskGb, cpu_cores: cores } : null,
  );

  const metadataObject = Object.fromEntries(metadata.filter((r) => r.key.trim()).map((r) => [r.key.trim(), r.value]));
  const create = useAction(async () => {
    const vm = await call(
      api.POST('/api/vms', {
        params: { header: { 'Idempotency-Key': key } },
        body: {
          name,
          os_type: osType,
          ram_mb: ramMb,
          disk_gb: diskGb,
          cpu_cores: cores,
          ...(Object.keys(metadataObject).length ? { metadata: metadataObject } : {}),
          ...(keyIds.length ? { ssh_key_ids: keyIds } : {}),
          ...(userData ? { user_data: userData } : {}),
        },
      }),
    );
    void refreshMe();
    navigate(`/vms/${vm.id}`);
  });

  if (catalog.loading && !catalog.data) return <Spinner label="Loading the OS catalog…" />;
  return (
    <section aria-labelledby="launch-title">
      <h1 id="launch-title">Launch a VM</h1>
      <ProblemAlert problem={catalog.problem} />
      <form
        class="launch"
        onSubmit={(e) => {
          e.preventDefault();
          create.setProblem(null);
          setKey(idempotencyKey());
          setConfirming(true);
        }}
      >
        <div class="launch-fields">
          <Field label="Name" hint="Lowercase letters, digits and inner hyphens; unique among your VMs.">
            {(id, hint) => (
              <input
                id={id}
                aria-describedby={hint}
                required
                pattern={NAME_PATTERN}
                maxLength={LIMITS.name.maxLength}
                value={name}
                onInput={(e) => setName(e.currentTarget.value)}
              />
            )}
          </Field>
          <Field label="Operating system">
            {(id) => (
              <select id={id} required value={osType} onChange={(e) => setOsType(e.currentTarget.value)}>
                {catalog.data?.osTypes.map((os) => (
                  <option value={os}>{os}</option>
                ))}
              </select>
            )}
          </Field>
          <SizeField label="Memory (MB)" unit="MB" limits={LIMITS.ram_mb} value={ramMb} onValue={setRamMb} />
          <SizeField label="Disk (GB)" unit="GB" limits={LIMITS.disk_gb} value={diskGb} onValue={setDiskGb} />
          <SizeField label="CPU cores" limits={LIMITS.cpu_cores} value={cores} onValue={setCores} />
          <fieldset>
            <legend>SSH keys</legend>
            {catalog.data?.keys.length ? (
              catalog.data.keys.map((k) => (
                <div class="field inline checkbox" key={k.id}>
                  <input
                    id={`key-${k.id}`}
                    type="checkbox"
                    checked={keyIds.includes(k.id)}
                    onChange={(e) => setKeyIds(e.currentTarget.checked ? [...keyIds, k.id] : keyIds.filter((id) => id !== k.id))}
                  />
                  <label for={`key-${k.id}`}>
                    {k.name} <span class="muted">{k.fingerprint}</span>
                  </label>
                </div>
              ))
            ) : (
              <p class="muted">
                No SSH keys. <Link href="/ssh-keys">Add one</Link> to log in to your VMs.
              </p>
            )}
          </fieldset>
          <fieldset>
            <legend>Metadata</legend>
            <MetadataRows idPrefix="launch-meta" rows={metadata} onChange={setMetadata} />
          </fieldset>
          <Field
            label="User data (optional)"
            hint="A script starting with #! run once as root at first boot, after your SSH keys are installed; at most 64 KiB. Not shown again."
          >
            {(id, hint) => (
              <textarea
                id={id}
                aria-describedby={hint}
                class="user-data"
                rows={6}
                spellcheck={false}
                placeholder={'#!/bin/sh\napt-get install -y nginx'}
                value={userData}
                onInput={(e) => setUserData(e.currentTarget.value)}
              />
            )}
          </Field>
        </div>
        <aside class="cost-panel" aria-labelledby="cost-title" aria-live="polite">
          <h2 id="cost-title">Cost</h2>
          {!sizeValid && <p class="muted">Enter a size within the limits to see its cost.</p>}
          {sizeValid && !quota && !quotaProblem && <Spinner label="Pricing…" />}
          <ProblemAlert problem={quotaProblem} />
          {sizeValid && quota && (
            <dl class="cost">
              <dt>This VM</dt>
              <dd data-testid="cost">{quota.cost} credits</dd>
              <dt>Your balance</dt>
              <dd>{quota.balance}</dd>
              <dt>Balance after</dt>
              <dd class={quota.sufficient ? '' : 'negative'}>{quota.balance_after}</dd>
            </dl>
          )}
          {catalog.data && <Headroom usage={catalog.data.quota} requested={{ vms: 1, cpu_cores: cores, ram_mb: ramMb }} />}
          {quota && !quota.sufficient && (
            <p class="warning" role="status">
              Not enough credits for this size.
            </p>
          )}
          <button type="submit" class="primary">
            Review and launch
          </button>
        </aside>
      </form>
      <ConfirmDialog
        open={confirming}
        title="Launch this VM?"
        confirmLabel={create.busy ? 'Launching…' : 'Launch'}
        busy={create.busy}
        onCancel={() => setConfirming(false)}
        onConfirm={() => void create.run()}
      >
        <dl class="summary">
          <dt>Name</dt>
          <dd>{name}</dd>
          <dt>OS</dt>
          <dd>{osType}</dd>
          <dt>Size</dt>
          <dd>
            {formatMb(ramMb)} RAM · {diskGb} GB disk · {cores} {cores === 1 ? 'core' : 'cores'}
          </dd>
          {userData && (
            <>
              <dt>User data</dt>
              <dd>{new TextEncoder().encode(userData).length} bytes, run at first boot</dd>
            </>
          )}
          <dt>Cost</dt>
          <dd data-testid="confirm-cost">{quota ? `${quota.cost} credits` : '…'}</dd>
          {quota && (
            <>
              <dt>Balance after</dt>
              <dd>{quota.balance_after}</dd>
            </>
          )}
        </dl>
        <ProblemAlert problem={create.problem} />
      </ConfirmDialog>
    </section>
  );
}
