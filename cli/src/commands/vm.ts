import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  isApiError,
  unwrap,
  VM_ACTIONS,
  VM_STATUSES,
  type components,
  type Vm,
  type VmPlatformClient,
  type VmStatus,
} from '@vm-platform/sdk';
import { Option, type Command } from 'commander';
import { CliError, EXIT } from '../errors.js';
import { all, collect, integer, seconds, type Runtime } from '../runtime.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The VM named (or with this id) among yours that are not destroyed. */
export async function findVm(api: VmPlatformClient, nameOrId: string): Promise<Vm> {
  if (UUID.test(nameOrId)) return unwrap(await api.GET('/api/vms/{id}', { params: { path: { id: nameOrId } } }));
  for await (const vm of api.paginate('/api/vms', { query: { limit: 100 } })) if (vm.name === nameOrId) return vm;
  throw new CliError(EXIT.notFound, `no VM named "${nameOrId}" (vmctl vm list shows yours)`);
}

type Snapshot = components['schemas']['SnapshotResponseDto'];
type VmAction = (typeof VM_ACTIONS)[number];

/** The VM's snapshot with this name (or id). */
async function findSnapshot(api: VmPlatformClient, vm: Vm, nameOrId: string): Promise<Snapshot> {
  for await (const s of api.paginate('/api/vms/{id}/snapshots', { path: { id: vm.id }, query: { limit: 100 } }))
    if (s.id === nameOrId || s.name === nameOrId) return s;
  throw new CliError(EXIT.notFound, `${vm.name} has no snapshot named "${nameOrId}" (vmctl vm snapshot list ${vm.name} shows them)`);
}

interface WaitFlags {
  wait?: boolean;
  waitTimeout: string;
}

const waitOptions = (cmd: Command) =>
  cmd
    .option('-w, --wait', 'wait until the VM gets there (progress on stderr)')
    .option('--wait-timeout <seconds>', 'give up waiting after this long (exit 7)', '600');

/**
 * Waits for `target` showing each status change on stderr, from the status the request left the VM in
 * (`vm`, as the API answered it: a fast operation may be over by the first poll); returns the last status read.
 */
async function waitFor(
  rt: Runtime,
  api: VmPlatformClient,
  vm: { id: string; name: string; status: string },
  target: VmStatus | readonly VmStatus[],
  flags: WaitFlags,
) {
  const started = Date.now();
  rt.note(`${vm.name}: ${vm.status} (0s)`);
  let shown: string | undefined = vm.status;
  const status = await api.waitForVm(vm.id, target, {
    timeoutMs: seconds(flags.waitTimeout, '--wait-timeout') * 1000,
    onStatus: (s) => {
      if (s.status !== shown) rt.note(`${vm.name}: ${s.status} (${Math.round((Date.now() - started) / 1000)}s)`);
      shown = s.status;
    },
  });
  return status;
}

/** After an action, the status it ends in. */
const ACTION_TARGET: Record<VmAction, VmStatus | readonly VmStatus[]> = {
  start: 'running',
  stop: 'stopped',
  restart: 'running',
  destroy: 'destroyed',
  resize: 'stopped',
  rebuild: 'running',
};

/** Sends an action and, with --wait, waits until it is done; prints the VM either way. */
async function act(rt: Runtime, api: VmPlatformClient, target: Vm, body: components['schemas']['VmActionDto'], o: WaitFlags) {
  const acted = unwrap(await api.POST('/api/vms/{id}/action', { params: { path: { id: target.id } }, body }));
  if (!rt.json) rt.note(`${target.name}: ${body.action} accepted (${acted.status})`);
  if (o.wait) await waitFor(rt, api, { ...target, status: acted.status }, ACTION_TARGET[body.action], o);
  showVm(rt, o.wait ? await current(api, target.id) : acted);
}

/**
 * Polls the snapshot until it is available (or, `gone`, until it no longer exists), with --wait-timeout's
 * deadline. A snapshot that failed is exit 1.
 */
async function waitForSnapshot(
  rt: Runtime,
  api: VmPlatformClient,
  vm: Vm,
  snapshot: Snapshot,
  until: 'available' | 'gone',
  flags: WaitFlags,
): Promise<Snapshot | undefined> {
  const started = Date.now();
  const deadline = started + seconds(flags.waitTimeout, '--wait-timeout') * 1000;
  let shown: string | undefined;
  for (;;) {
    let current: Snapshot | undefined;
    try {
      current = unwrap(
        await api.GET('/api/vms/{id}/snapshots/{snapshot_id}', { params: { path: { id: vm.id, snapshot_id: snapshot.id } } }),
      );
    } catch (err) {
      if (until === 'gone' && isApiError(err) && err.status === 404) return undefined;
      throw err;
    }
    if (current.status !== shown) rt.note(`${vm.name}/${snapshot.name}: ${current.status} (${Math.round((Date.now() - started) / 1000)}s)`);
    shown = current.status;
    if (current.status === 'failed') throw new CliError(EXIT.other, `snapshot ${snapshot.name} failed`, current);
    if (until === 'available' && current.status === 'available') return current;
    if (Date.now() > deadline)
      throw new CliError(EXIT.timeout, `snapshot ${snapshot.name} still ${current.status} after ${flags.waitTimeout}s`, current);
    await sleep(1000);
  }
}

function showSnapshots(rt: Runtime, data: Snapshot | Snapshot[]) {
  const rows = (Array.isArray(data) ? data : [data]).map((s) => [s.name, s.status, `${s.size_gb}G`, s.created_at, s.id]);
  rt.print(data, () => ({ head: ['NAME', 'STATUS', 'SIZE', 'CREATED', 'ID'], rows }));
}

function vmRows(vm: Vm): [string, unknown][] {
  return [
    ['id', vm.id],
    ['name', vm.name],
    ['status', vm.status],
    ['os', vm.os_type],
    ['ram', `${vm.ram_mb} MB`],
    ['cpus', vm.cpu_cores],
    ['disk', `${vm.disk_gb} GB`],
    ['ip', vm.ip_address],
    ['ssh', vm.ssh_command],
    ['actions', vm.allowed_actions.join(', ')],
    ['metadata', Object.keys(vm.metadata).length ? JSON.stringify(vm.metadata) : ''],
    ['created', vm.created_at],
  ];
}

function showVm(rt: Runtime, vm: Vm) {
  rt.print(vm, () => ({ head: ['FIELD', 'VALUE'], rows: vmRows(vm).map(([k, v]) => [k, v as string]) }));
}

/** Re-reads the VM after waiting so the printed resource is current. */
async function current(api: VmPlatformClient, id: string): Promise<Vm> {
  return unwrap(await api.GET('/api/vms/{id}', { params: { path: { id } } }));
}

function metadata(pairs: string[] | undefined): Record<string, string> | undefined {
  if (!pairs?.length) return undefined;
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at < 1) throw new CliError(EXIT.usage, `--metadata takes key=value, not "${pair}"`);
    out[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return out;
}

export function registerVm(program: Command, rt: Runtime): void {
  const vm = program.command('vm').description('create, list and drive your VMs');

  waitOptions(
    vm
      .command('create <name>')
      .description('create a VM (its cost is debited at once); --wait until it runs')
      .option('--os <os_type>', 'operating system (vmctl vm os-types lists them)', 'ubuntu-24.04')
      .option('--ram <mb>', 'memory in MiB', '1024')
      .option('--cpus <n>', 'CPU cores', '1')
      .option('--disk <gb>', 'disk in GB', '20')
      .option('--ssh-key <name-or-id>', 'install this SSH key (repeatable)', collect)
      .option('--metadata <key=value>', 'metadata entry (repeatable)', collect),
  ).action(
    async (
      name: string,
      o: WaitFlags & { os: string; ram: string; cpus: string; disk: string; sshKey?: string[]; metadata?: string[] },
    ) => {
      const api = await rt.client();
      let sshKeyIds: string[] | undefined;
      if (o.sshKey?.length) {
        const keys = await all(api.paginate('/api/ssh-keys', { query: { limit: 100 } }));
        sshKeyIds = o.sshKey.map((k) => {
          const key = keys.find((x) => x.id === k || x.name === k);
          if (!key) throw new CliError(EXIT.notFound, `no SSH key named "${k}" (vmctl ssh-key list shows yours)`);
          return key.id;
        });
      }
      // The SDK sends an Idempotency-Key with every POST, and the same one on its retries.
      const created = unwrap(
        await api.POST('/api/vms', {
          body: {
            name,
            os_type: o.os,
            ram_mb: integer(o.ram, '--ram'),
            cpu_cores: integer(o.cpus, '--cpus'),
            disk_gb: integer(o.disk, '--disk'),
            ...(sshKeyIds ? { ssh_key_ids: sshKeyIds } : {}),
            ...(o.metadata ? { metadata: metadata(o.metadata) } : {}),
          },
        }),
      );
      if (!rt.json) rt.note(`created ${created.name} (${created.id}), ${created.cost} credits`);
      if (o.wait) await waitFor(rt, api, created, 'running', o);
      showVm(rt, o.wait ? await current(api, created.id) : created);
    },
  );

  vm.command('list')
    .alias('ls')
    .description('your VMs (every page)')
    .addOption(new Option('--status <status>', 'only this status').choices(VM_STATUSES))
    .option('-a, --all', 'include destroyed VMs')
    .action(async (o: { status?: VmStatus; all?: boolean }) => {
      const api = await rt.client();
      const vms = await all(
        api.paginate('/api/vms', {
          query: { limit: 100, ...(o.status ? { status: o.status } : {}), ...(o.all ? { include_destroyed: true } : {}) },
        }),
      );
      rt.print(vms, () => ({
        head: ['NAME', 'STATUS', 'OS', 'RAM', 'CPUS', 'DISK', 'IP', 'ID'],
        rows: vms.map((v) => [v.name, v.status, v.os_type, `${v.ram_mb}M`, v.cpu_cores, `${v.disk_gb}G`, v.ip_address, v.id]),
      }));
    });

  vm.command('get <name>')
    .description('one VM, by name or id')
    .action(async (name: string) => {
      showVm(rt, await findVm(await rt.client(), name));
    });

  vm.command('os-types')
    .description('the operating systems a VM can run')
    .action(async () => {
      const { os_types } = unwrap(await (await rt.client()).GET('/api/vms/os-types'));
      rt.print(os_types, () => ({ head: ['OS'], rows: os_types.map((o) => [o]) }));
    });

  waitOptions(
    vm
      .command('action <name> <action>')
      .description(`run an action (${VM_ACTIONS.join(', ')}); --wait until it is done`)
      .option('--reason <text>', "admins acting on another user's VM: why (uses the admin route)"),
  ).action(async (name: string, action: string, o: WaitFlags & { reason?: string }) => {
    if (!(VM_ACTIONS as readonly string[]).includes(action))
      throw new CliError(EXIT.usage, `unknown action "${action}": one of ${VM_ACTIONS.join(', ')}`);
    const api = await rt.client();
    await act(rt, api, await findVm(api, name), { action: action as VmAction }, o);
  });

  waitOptions(vm.command('delete <name>').alias('rm').description('destroy a VM (its disk is gone; no refund)')).action(
    async (name: string, o: WaitFlags) => {
      const api = await rt.client();
      await act(rt, api, await findVm(api, name), { action: 'destroy' }, o);
    },
  );

  waitOptions(
    vm
      .command('resize <name>')
      .description("change a stopped VM's size (the price difference is debited); --wait until it is stopped again")
      .option('--ram <mb>', 'memory in MiB')
      .option('--cpus <n>', 'CPU cores')
      .option('--disk <gb>', 'disk in GB (it can only grow)'),
  ).action(async (name: string, o: WaitFlags & { ram?: string; cpus?: string; disk?: string }) => {
    const size = {
      ...(o.ram ? { ram_mb: integer(o.ram, '--ram') } : {}),
      ...(o.cpus ? { cpu_cores: integer(o.cpus, '--cpus') } : {}),
      ...(o.disk ? { disk_gb: integer(o.disk, '--disk') } : {}),
    };
    if (!Object.keys(size).length) throw new CliError(EXIT.usage, 'give at least one of --ram, --cpus, --disk');
    const api = await rt.client();
    await act(rt, api, await findVm(api, name), { action: 'resize', ...size }, o);
  });

  waitOptions(
    vm
      .command('rebuild <name>')
      .description('reinstall a VM on a fresh disk (same name, size and address; its snapshots are deleted; free); --wait until it runs')
      .option('--os <os_type>', "install this OS instead of the VM's own (vmctl vm os-types lists them)"),
  ).action(async (name: string, o: WaitFlags & { os?: string }) => {
    const api = await rt.client();
    await act(rt, api, await findVm(api, name), { action: 'rebuild', ...(o.os ? { os_type: o.os } : {}) }, o);
  });

  const snapshot = vm.command('snapshot').description("snapshots of a VM's disk (vmctl vm snapshot --help)");
  waitOptions(
    snapshot
      .command('create <name> <snapshot>')
      .description('snapshot a running or stopped VM (charged once from its disk size); --wait until it is available'),
  ).action(async (name: string, snapName: string, o: WaitFlags) => {
    const api = await rt.client();
    const target = await findVm(api, name);
    const taken = unwrap(await api.POST('/api/vms/{id}/snapshots', { params: { path: { id: target.id } }, body: { name: snapName } }));
    if (!rt.json) rt.note(`${target.name}/${taken.name}: snapshot accepted (${taken.status})`);
    showSnapshots(rt, o.wait ? ((await waitForSnapshot(rt, api, target, taken, 'available', o)) ?? taken) : taken);
  });

  snapshot
    .command('list <name>')
    .alias('ls')
    .description("a VM's snapshots (every page)")
    .action(async (name: string) => {
      const api = await rt.client();
      const target = await findVm(api, name);
      showSnapshots(rt, await all(api.paginate('/api/vms/{id}/snapshots', { path: { id: target.id }, query: { limit: 100 } })));
    });

  waitOptions(
    snapshot
      .command('restore <name> <snapshot>')
      .description('put the disk back as it was at the snapshot (what was written since is lost); --wait until the VM is back'),
  ).action(async (name: string, snapName: string, o: WaitFlags) => {
    const api = await rt.client();
    const target = await findVm(api, name);
    const snap = await findSnapshot(api, target, snapName);
    const acted = unwrap(
      await api.POST('/api/vms/{id}/snapshots/{snapshot_id}/restore', { params: { path: { id: target.id, snapshot_id: snap.id } } }),
    );
    if (!rt.json) rt.note(`${target.name}: restore to ${snap.name} accepted (${acted.status})`);
    // The VM comes back in the power state it had: running or stopped.
    if (o.wait) await waitFor(rt, api, { ...target, status: acted.status }, target.status === 'stopped' ? 'stopped' : 'running', o);
    showVm(rt, o.wait ? await current(api, target.id) : acted);
  });

  waitOptions(
    snapshot.command('delete <name> <snapshot>').alias('rm').description('delete a snapshot (no refund); --wait until it is gone'),
  ).action(async (name: string, snapName: string, o: WaitFlags) => {
    const api = await rt.client();
    const target = await findVm(api, name);
    const snap = await findSnapshot(api, target, snapName);
    unwrap(await api.DELETE('/api/vms/{id}/snapshots/{snapshot_id}', { params: { path: { id: target.id, snapshot_id: snap.id } } }));
    if (!rt.json) rt.note(`${target.name}/${snap.name}: delete accepted`);
    if (o.wait) {
      await waitForSnapshot(rt, api, target, snap, 'gone', o);
      if (!rt.json) rt.note(`${target.name}/${snap.name}: deleted`);
    }
  });

  vm.command('ssh <name>')
    .description('log in to a VM with its ssh command (arguments after -- go to ssh)')
    .allowExcessArguments()
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const api = await rt.client();
      const target = await findVm(api, name);
      const status = unwrap(await api.GET('/api/vms/{id}/status', { params: { path: { id: target.id } } }));
      if (!status.ssh_command) throw new CliError(EXIT.conflict, `${target.name} has no address to log in to (it is ${status.status})`);
      // "ssh -p 22 vmuser@192.168.121.10": run ssh itself (no shell), with the user's extra arguments.
      const [file, ...args] = status.ssh_command.split(/\s+/);
      const ssh = process.env.VMCTL_SSH || (file ?? 'ssh');
      const child = spawn(ssh, [...args, ...cmd.args.slice(1)], { stdio: 'inherit' });
      const code = await new Promise<number>((resolve, reject) => {
        child.on('error', reject);
        child.on('exit', (c, signal) => {
          resolve(c ?? (signal ? 128 : 1));
        });
      });
      process.exitCode = code;
    });
}
