import { describe, it, expect, beforeAll, afterAll, beforeEach } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_OS_CATALOG } from '../../src/modules/vms/os-catalog';
import { VagrantProvider, type VagrantProviderOptions } from '../../src/modules/vms/providers/vagrant.provider';
import { renderVagrantfile } from '../../src/modules/vms/providers/vagrantfile';
import { ProviderError, type VmTarget } from '../../src/modules/vms/providers/vm-provider.interface';

const FAKE = path.resolve(process.cwd(), 'test/fakes/vagrant');
const FAKE_VIRSH = path.resolve(process.cwd(), 'test/fakes/virsh');

interface LogEntry {
  pid: number;
  childPid?: number;
  argv: string[];
  cwd: string;
  command: string;
  ts: number;
  env: Record<string, string | undefined>;
}

let base: string;
let workdir: string;
let logFile: string;
let controlFile: string;
let virshLogFile: string;

function makeVm(overrides: Partial<VmTarget> = {}): VmTarget {
  const id = overrides.id ?? `vm-${Math.random().toString(36).slice(2, 10)}`;
  return {
    id,
    name: 'web-01',
    osType: 'ubuntu-22.04',
    ramMb: 2048,
    diskGb: 30,
    cpuCores: 2,
    sshUser: 'vmuser',
    sshPublicKeys: [],
    ...overrides,
  };
}

function makeProvider(overrides: Partial<VagrantProviderOptions> = {}): VagrantProvider {
  return new VagrantProvider({
    bin: FAKE,
    workdir,
    provider: 'libvirt',
    catalog: DEFAULT_OS_CATALOG,
    timeouts: { up: 30, halt: 30, reload: 30, destroy: 30, query: 30 },
    killGraceMs: 500,
    virshBin: FAKE_VIRSH,
    ...overrides,
    env: { FAKE_VAGRANT_LOG: logFile, FAKE_VAGRANT_CONTROL: controlFile, FAKE_VIRSH_LOG: virshLogFile, ...overrides.env },
  });
}

/** The argv of every virsh call since the test began. */
function readVirshLog(): string[][] {
  if (!existsSync(virshLogFile)) return [];
  return readFileSync(virshLogFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { argv: string[] }).argv);
}

function readLog(): LogEntry[] {
  if (!existsSync(logFile)) return [];
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LogEntry);
}

async function control(value: Record<string, unknown>): Promise<void> {
  await writeFile(controlFile, JSON.stringify(value));
}

/** Gone = no such process, or a zombie waiting for a parent that is not us. */
function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function waitGone(pid: number, ms = 2000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!isGone(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
  return true;
}

async function rejection(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p;
  } catch (err) {
    return err as ProviderError;
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  Logger.overrideLogger(['warn', 'error']);
  base = await mkdtemp(path.join(os.tmpdir(), 'vagrant-provider-spec-'));
  workdir = path.join(base, 'vms');
  logFile = path.join(base, 'calls.jsonl');
  controlFile = path.join(base, 'control.json');
  virshLogFile = path.join(base, 'virsh-calls.jsonl');
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

beforeEach(async () => {
  await control({});
  await rm(logFile, { force: true });
  await rm(virshLogFile, { force: true });
});

describe('VagrantProvider against the fake vagrant', () => {
  it('is named vagrant', () => {
    expect(makeProvider().name).toBe('vagrant');
  });

  it('up writes the Vagrantfile, runs `up --provider=libvirt --machine-readable` in the VM dir and returns ssh-config', async () => {
    const provider = makeProvider();
    const vm = makeVm({ name: 'db-7', ramMb: 3072, cpuCores: 3, diskGb: 42, osType: 'debian-12' });
    const conn = await provider.up(vm);

    const dir = path.join(workdir, vm.id);
    const vagrantfile = await readFile(path.join(dir, 'Vagrantfile'), 'utf8');
    expect(vagrantfile).toContain("config.vm.box = 'generic/debian12'");
    expect(vagrantfile).toContain("config.vm.hostname = 'db-7'");
    expect(vagrantfile).toContain('libvirt.memory = 3072');
    expect(vagrantfile).toContain('libvirt.cpus = 3');
    expect(vagrantfile).toContain('libvirt.machine_virtual_size = 42');
    // The atomic write leaves no temp file behind.
    expect((await readdir(dir)).filter((f) => f.includes('.tmp'))).toEqual([]);

    const calls = readLog();
    expect(calls.map((c) => c.argv)).toEqual([['up', '--provider=libvirt', '--machine-readable'], ['ssh-config']]);
    for (const call of calls) {
      expect(call.cwd).toBe(dir);
      expect(call.env).toMatchObject({ VAGRANT_DEFAULT_PROVIDER: 'libvirt', VAGRANT_NO_COLOR: '1', VAGRANT_CHECKPOINT_DISABLE: '1' });
      expect(call.env.VAGRANT_EXPERIMENTAL).toBeUndefined();
    }

    expect(conn.ip_address).toMatch(/^192\.168\.121\.\d{1,3}$/);
    expect(conn.ssh_port).toBe(22);
    await expect(provider.status(vm)).resolves.toBe('running');
    await expect(provider.connection(vm)).resolves.toEqual(conn);
  });

  it('halt, reload (with a rewritten Vagrantfile), sample, destroy', async () => {
    const provider = makeProvider();
    const vm = makeVm();
    const dir = path.join(workdir, vm.id);
    const conn = await provider.up(vm);

    await provider.halt(vm);
    await expect(provider.status(vm)).resolves.toBe('stopped');
    // A stopped machine has no sample.
    await expect(provider.sample([vm])).resolves.toEqual(new Map());

    await expect(provider.reload({ ...vm, ramMb: 4096 })).resolves.toEqual(conn);
    expect(await readFile(path.join(dir, 'Vagrantfile'), 'utf8')).toContain('libvirt.memory = 4096');
    await expect(provider.status(vm)).resolves.toBe('running');

    // From libvirt: the RAM and disk the domain has, the guest's own memory use; no CPU figure on the first pass.
    await expect(provider.sample([vm])).resolves.toEqual(
      new Map([[vm.id, { memory_total_mb: 4096, memory_used_mb: 573, disk_size_gb: 30, disk_allocated_gb: 1.5 }]]),
    );

    await provider.destroy(vm);
    expect(existsSync(dir)).toBe(false);

    const argvs = readLog().map((c) => c.argv);
    expect(argvs).toContainEqual(['halt', '--machine-readable']);
    expect(argvs).toContainEqual(['reload', '--machine-readable']);
    expect(argvs).toContainEqual(['destroy', '-f', '--machine-readable']);
    expect(argvs).toContainEqual(['status', '--machine-readable']);
    // Nothing enters the guest to sample it.
    expect(argvs.filter((a) => a[0] === 'ssh')).toEqual([]);
  });

  it('a halt that exits non-zero but leaves the machine stopped counts as stopped', async () => {
    const provider = makeProvider();
    const vm = makeVm();
    await provider.up(vm);
    // What vagrant-libvirt does when the guest drops its DHCP lease while shutting down.
    await control({
      state: 'shutoff',
      halt: { fail: { code: 1, stderr: 'The provider for this Vagrant-managed machine is reporting that it\nis not yet ready for SSH.' } },
    });
    await expect(provider.halt(vm)).resolves.toBeUndefined();
    expect(readLog().map((c) => c.argv.slice(0, 1))).toEqual([['up'], ['ssh-config'], ['halt'], ['status']]);
  });

  it('a failed halt of a machine still running (or of unknown state) is a failure, with the halt output', async () => {
    const provider = makeProvider();
    const vm = makeVm();
    await provider.up(vm);
    for (const extra of [{ state: 'running' }, { status: { fail: { code: 1, stderr: 'libvirt is down' } } }]) {
      await control({ halt: { fail: { code: 1, stderr: 'halt went wrong' } }, ...extra });
      const err = await rejection(provider.halt(vm));
      expect(err).toBeInstanceOf(ProviderError);
      expect(err.message).toBe('vagrant halt failed (exit 1)');
      expect(err.output).toBe('halt went wrong');
    }
  });

  it('passes the extra env to every vagrant process and renders the host settings and the login user', async () => {
    const provider = makeProvider({
      env: { LIBVIRT_DEFAULT_URI: 'qemu:///system', VAGRANT_HOME: '/srv/vagrant.d' },
      host: {
        libvirtDriver: 'qemu',
        libvirtCpuMode: 'custom',
        libvirtCpuModel: 'qemu64',
        libvirtUri: 'qemu:///system',
        bootTimeoutSeconds: 900,
      },
    });
    const vm = makeVm({
      sshUser: 'alice',
      sshPublicKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ alice@laptop'],
    });
    await provider.up(vm);
    await provider.halt(vm);
    for (const call of readLog()) expect(call.env).toMatchObject({ LIBVIRT_DEFAULT_URI: 'qemu:///system', VAGRANT_HOME: '/srv/vagrant.d' });
    const vagrantfile = await readFile(path.join(workdir, vm.id, 'Vagrantfile'), 'utf8');
    expect(vagrantfile).toContain("libvirt.driver = 'qemu'");
    expect(vagrantfile).toContain("libvirt.cpu_mode = 'custom'");
    expect(vagrantfile).toContain("libvirt.cpu_model = 'qemu64'");
    expect(vagrantfile).toContain("libvirt.uri = 'qemu:///system'");
    expect(vagrantfile).toContain('config.vm.boot_timeout = 900');
    expect(vagrantfile).toContain('    user=alice');
    expect(vagrantfile).toContain(Buffer.from(`${vm.sshPublicKeys[0]}\n`).toString('base64'));
  });

  it('answers for a VM without a directory without running vagrant', async () => {
    const provider = makeProvider();
    const vm = makeVm();
    await expect(provider.status(vm)).resolves.toBe('not_created');
    await expect(provider.connection(vm)).resolves.toEqual({ ip_address: null, ssh_port: null });
    await expect(provider.destroy(vm)).resolves.toBeUndefined();
    await expect(provider.halt(vm)).resolves.toBeUndefined();
    await expect(provider.states([vm])).resolves.toEqual(new Map([[vm.id, 'not_created']]));
    await expect(provider.sample([vm])).resolves.toEqual(new Map());
    expect(readLog()).toEqual([]);
  });

  it('destroy of a never-booted directory (no Vagrantfile) just removes it', async () => {
    const vm = makeVm();
    const dir = path.join(workdir, vm.id);
    await mkdir(dir, { recursive: true });
    await makeProvider().destroy(vm);
    expect(existsSync(dir)).toBe(false);
    expect(readLog()).toEqual([]);
  });

  it.each([
    ['running', 'running'],
    ['shutoff', 'stopped'],
    ['poweroff', 'stopped'],
    ['saved', 'stopped'],
    ['aborted', 'stopped'],
    ['paused', 'stopped'],
    ['not_created', 'not_created'],
    ['preparing', 'unknown'],
    ['inaccessible', 'unknown'],
  ])('maps the vagrant state %s to %s', async (state, expected) => {
    const provider = makeProvider();
    const vm = makeVm();
    await provider.up(vm);
    await control({ state });
    await expect(provider.status(vm)).resolves.toBe(expected);
  });

  it('status is unknown when the output has no state record', async () => {
    const provider = makeProvider();
    const vm = makeVm();
    await provider.up(vm);
    await control({ status: { stdout: 'garbage\n1700000000,default,metadata,provider,libvirt\n' } });
    await expect(provider.status(vm)).resolves.toBe('unknown');
  });

  it('rejects ssh-config output without a HostName', async () => {
    const provider = makeProvider();
    const vm = makeVm();
    await control({ 'ssh-config': { stdout: 'Host default\n  Port 22\n' } });
    const err = await rejection(provider.up(vm));
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.message).toMatch(/HostName/);
  });

  it('a failing command -> ProviderError with the exit code and stderr in output', async () => {
    const provider = makeProvider();
    const vm = makeVm();
    await control({ up: { fail: { code: 3, stderr: 'Error while connecting to Libvirt: qemu:///system unreachable' } } });
    const err = await rejection(provider.up(vm));
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.message).toBe('vagrant up failed (exit 3)');
    expect(err.output).toContain('qemu:///system unreachable');
    expect(err.timedOut).toBe(false);
  });

  it('machine-readable errors on stdout become readable text in output', async () => {
    const provider = makeProvider();
    const vm = makeVm();
    await provider.up(vm);
    await control({
      halt: {
        fail: {
          code: 1,
          stderr: '',
          stdout:
            '1700000000,default,metadata,provider,libvirt\n' +
            '1700000000,,error-exit,Vagrant::Errors::VagrantError,The domain could not be halted%!(VAGRANT_COMMA) sorry.\\nTry again.',
        },
      },
    });
    const err = await rejection(provider.halt(vm));
    expect(err.message).toBe('vagrant halt failed (exit 1)');
    expect(err.output).toBe('The domain could not be halted, sorry.\nTry again.');
  });

  it('keeps only the tail of long output', async () => {
    const provider = makeProvider();
    const vm = makeVm();
    await control({ up: { fail: { code: 1, stderr: `${'x'.repeat(10000)}THE END` } } });
    const err = await rejection(provider.up(vm));
    expect(err.output.length).toBeLessThanOrEqual(4000);
    expect(err.output.endsWith('THE END')).toBe(true);
  });

  it('fails cleanly when the binary does not exist', async () => {
    const provider = makeProvider({ bin: path.join(base, 'no-such-vagrant') });
    const err = await rejection(provider.up(makeVm()));
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.message).toMatch(/vagrant up failed \(ENOENT\)/);
  });

  it('a hanging command is killed at the timeout -> ProviderError timedOut, process gone', async () => {
    const provider = makeProvider({ timeouts: { up: 30, halt: 30, reload: 30, destroy: 30, query: 1 } });
    const vm = makeVm();
    await provider.up(vm);
    await rm(logFile, { force: true });
    await control({ status: { hang: true } });

    const started = Date.now();
    const err = await rejection(provider.status(vm));
    const elapsed = Date.now() - started;
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.timedOut).toBe(true);
    expect(err.message).toBe('vagrant status timed out after 1s');
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(elapsed).toBeLessThan(4000);

    const [call] = readLog();
    expect(call!.argv).toEqual(['status', '--machine-readable']);
    expect(await waitGone(call!.pid)).toBe(true);
  });

  it('escalates to SIGKILL and kills the whole process tree when SIGTERM is ignored', async () => {
    const provider = makeProvider({ timeouts: { up: 1, halt: 30, reload: 30, destroy: 30, query: 30 }, killGraceMs: 300 });
    const vm = makeVm();
    await control({ up: { hang: { ignoreSigterm: true, child: true } } });

    const started = Date.now();
    const err = await rejection(provider.up(vm));
    const elapsed = Date.now() - started;
    expect(err.timedOut).toBe(true);
    expect(err.output).toContain('up is taking its time');
    expect(elapsed).toBeLessThan(5000);

    const [call] = readLog();
    expect(call!.childPid).toEqual(expect.any(Number));
    expect(await waitGone(call!.pid)).toBe(true);
    expect(await waitGone(call!.childPid as number)).toBe(true);
  });

  it("the operation's deadline (its AbortSignal) cancels the command: the whole process group is killed, timedOut", async () => {
    const provider = makeProvider({ timeouts: { up: 30, halt: 30, reload: 30, destroy: 30, query: 30 }, killGraceMs: 300 });
    const vm = makeVm();
    await control({ up: { hang: { ignoreSigterm: true, child: true } } });

    const started = Date.now();
    const err = await rejection(provider.up(vm, AbortSignal.timeout(1000)));
    expect(err.timedOut).toBe(true);
    expect(err.message).toBe('vagrant up stopped: the operation timed out');
    expect(Date.now() - started).toBeLessThan(5000);

    const [call] = readLog();
    expect(await waitGone(call!.pid)).toBe(true);
    expect(await waitGone(call!.childPid as number)).toBe(true);
  });

  it('serializes operations on the same VM', async () => {
    const provider = makeProvider();
    const vm = makeVm();
    await control({ up: { delayMs: 400 } });
    const up = provider.up(vm);
    const halt = provider.halt(vm);
    await Promise.all([up, halt]);
    const calls = readLog();
    const upCall = calls.find((c) => c.command === 'up') as LogEntry;
    const haltCall = calls.find((c) => c.command === 'halt') as LogEntry;
    expect(haltCall.ts - upCall.ts).toBeGreaterThanOrEqual(400);
    await expect(provider.status(vm)).resolves.toBe('stopped');
  });

  it('rejects an unknown os_type before touching the disk or vagrant', async () => {
    const vm = makeVm({ osType: 'windows-95' });
    const err = await rejection(makeProvider().up(vm));
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.message).toMatch(/unknown os_type "windows-95"/);
    expect(existsSync(path.join(workdir, vm.id))).toBe(false);
    expect(readLog()).toEqual([]);
    // Not fooled by Object.prototype.
    await expect(makeProvider().up(makeVm({ osType: 'constructor' }))).rejects.toThrow(/unknown os_type/);
  });

  it.each([["x'; system('touch /tmp/pwned'); '"], ['web"#{`id`}"'], ['UPPER'], ['web_01'], ['a'.repeat(64)], ['web\nconfig.vm.box = 1']])(
    'refuses the hostile name %j without running vagrant',
    async (name) => {
      const err = await rejection(makeProvider().up(makeVm({ name })));
      expect(err).toBeInstanceOf(ProviderError);
      expect(err.message).toMatch(/hostname label/);
      expect(readLog()).toEqual([]);
    },
  );

  it.each([['../../etc'], ['a/b'], ['.'], ['..'], [''], ['x'.repeat(200)]])('refuses the VM id %j', async (id) => {
    const provider = makeProvider();
    await expect(provider.up(makeVm({ id }))).rejects.toThrow(/invalid VM id/);
    await expect(provider.status(makeVm({ id }))).rejects.toThrow(/invalid VM id/);
    await expect(provider.destroy(makeVm({ id }))).rejects.toThrow(/invalid VM id/);
    expect(readLog()).toEqual([]);
  });

  it('refuses non-integer sizes', async () => {
    await expect(makeProvider().up(makeVm({ ramMb: 1024.5 }))).rejects.toThrow(/ramMb must be an integer/);
  });

  it('virtualbox: --provider=virtualbox, VAGRANT_EXPERIMENTAL=disks and a primary disk', async () => {
    const provider = makeProvider({ provider: 'virtualbox', env: { VAGRANT_EXPERIMENTAL: 'typed_triggers' } });
    const vm = makeVm({ diskGb: 55 });
    await provider.up(vm);
    const [call] = readLog();
    expect(call!.argv).toEqual(['up', '--provider=virtualbox', '--machine-readable']);
    expect(call!.env.VAGRANT_DEFAULT_PROVIDER).toBe('virtualbox');
    expect(call!.env.VAGRANT_EXPERIMENTAL).toBe('typed_triggers,disks');
    const vagrantfile = await readFile(path.join(workdir, vm.id, 'Vagrantfile'), 'utf8');
    expect(vagrantfile).toContain("config.vm.disk :disk, size: '55GB', primary: true");
    expect(vagrantfile).toContain('vb.memory = 2048');
  });

  it('drops VAGRANT_CWD and VAGRANT_VAGRANTFILE so vagrant works in the VM directory', async () => {
    const provider = makeProvider({ env: { VAGRANT_CWD: '/', VAGRANT_VAGRANTFILE: 'Other' } });
    const vm = makeVm();
    await provider.up(vm);
    expect(readLog()[0]!.env.VAGRANT_CWD).toBeUndefined();
  });

  describe('day-2 operations', () => {
    const SNAP = '0193a5b2-7c1d-7e2f-8a9b-0c1d2e3f4a5b';
    const disk = (vm: VmTarget) => path.join(workdir, vm.id, '.fake-disk');

    it('snapshots: save, list, restore to the power state asked for (the disk as it was), delete; a missing one is already deleted', async () => {
      const provider = makeProvider({ timeouts: { up: 30, halt: 30, reload: 30, destroy: 30, query: 30, snapshot: 30 } });
      const vm = makeVm();
      await provider.up(vm);
      await writeFile(disk(vm), 'before');
      await provider.createSnapshot(vm, SNAP);
      await writeFile(disk(vm), 'after');

      // Restore and stay stopped: the snapshot was taken running, so the revert is halted.
      await expect(provider.restoreSnapshot(vm, SNAP, 'stopped')).resolves.toBeUndefined();
      expect(await readFile(disk(vm), 'utf8')).toBe('before');
      await expect(provider.status(vm)).resolves.toBe('stopped');
      // Restore and run: booted without provisioners, the connection answered.
      await writeFile(disk(vm), 'after');
      const conn = await provider.restoreSnapshot(vm, SNAP, 'running');
      expect(conn?.ip_address).toMatch(/^192\.168\.121\.\d{1,3}$/);
      expect(await readFile(disk(vm), 'utf8')).toBe('before');
      await expect(provider.status(vm)).resolves.toBe('running');

      await provider.deleteSnapshot(vm, SNAP);
      await provider.deleteSnapshot(vm, SNAP); // already gone: no `snapshot delete` run
      const argvs = readLog().map((c) => c.argv);
      expect(argvs).toContainEqual(['snapshot', 'save', SNAP, '--machine-readable']);
      expect(argvs).toContainEqual(['snapshot', 'restore', SNAP, '--no-start', '--no-provision', '--machine-readable']);
      expect(argvs).toContainEqual(['halt', '--machine-readable']);
      expect(argvs.filter((a) => a[0] === 'snapshot' && a[1] === 'delete')).toEqual([['snapshot', 'delete', SNAP, '--machine-readable']]);
      expect(argvs.filter((a) => a[0] === 'snapshot' && a[1] === 'list')).toHaveLength(2);
      // Only uuids are snapshot names: nothing else reaches vagrant's command line.
      const bad = await rejection(provider.createSnapshot(vm, '--force'));
      expect(bad.message).toMatch(/invalid snapshot id/);
    });

    it('snapshot of a machine that was never created is a ProviderError, not a vagrant run', async () => {
      const provider = makeProvider();
      const err = await rejection(provider.createSnapshot(makeVm(), SNAP));
      expect(err).toBeInstanceOf(ProviderError);
      expect(err.message).toMatch(/is not created/);
      expect(readLog()).toEqual([]);
    });

    it('rebuild: destroy (its snapshots and disk with it) and up again with the user data, reporting its outcome', async () => {
      const provider = makeProvider();
      const vm = makeVm();
      await provider.up(vm);
      await writeFile(disk(vm), 'old files');
      await provider.createSnapshot(vm, SNAP);
      const result = await provider.rebuild({ ...vm, osType: 'debian-12', userData: '#!/bin/sh\necho again\n' });
      expect(result.ip_address).toMatch(/^192\.168\.121\./);
      // The fake's up printed no user-data marker: the outcome is reported as absent, not invented.
      expect(result.userData).toBeNull();
      expect(existsSync(disk(vm))).toBe(false);
      expect(await readFile(path.join(workdir, vm.id, 'Vagrantfile'), 'utf8')).toContain("config.vm.box = 'generic/debian12'");
      // The user data file is gone after the up; the Vagrantfile no longer names it.
      expect((await readdir(path.join(workdir, vm.id))).filter((f) => f.includes('user-data'))).toEqual([]);
      const argvs = readLog().map((c) => c.argv);
      const destroyAt = argvs.findIndex((a) => a[0] === 'destroy');
      expect(destroyAt).toBeGreaterThan(0);
      expect(argvs.slice(destroyAt + 1).find((a) => a[0] === 'up')).toEqual(['up', '--provider=libvirt', '--machine-readable']);
      await expect(provider.deleteSnapshot(vm, SNAP)).resolves.toBeUndefined();
    });

    it('resize (virtualbox): only a stopped machine, the Vagrantfile rewritten with the new size', async () => {
      const provider = makeProvider({ provider: 'virtualbox' });
      const vm = makeVm();
      await provider.up(vm);
      const running = await rejection(provider.resize({ ...vm, ramMb: 4096 }));
      expect(running.message).toMatch(/is running: resize needs it stopped/);
      await provider.halt(vm);
      await provider.resize({ ...vm, ramMb: 4096, cpuCores: 3, diskGb: 40 });
      const vagrantfile = await readFile(path.join(workdir, vm.id, 'Vagrantfile'), 'utf8');
      expect(vagrantfile).toContain('vb.memory = 4096');
      expect(vagrantfile).toContain('vb.cpus = 3');
    });

    it('resize (libvirt): the domain’s memory and cores through virsh --config, ceilings first when growing, and its volume grown', async () => {
      const virshLog = path.join(base, 'virsh.jsonl');
      await rm(virshLog, { force: true });
      const provider = makeProvider({
        virshBin: path.resolve(process.cwd(), 'test/fakes/virsh'),
        host: { libvirtUri: 'qemu:///system' },
        env: { FAKE_VIRSH_LOG: virshLog, FAKE_VIRSH_CPUS: '2', FAKE_VIRSH_MAX_KIB: '2097152', FAKE_VIRSH_CAPACITY: String(30 * 1024 ** 3) },
      });
      const vm = makeVm();
      await provider.up(vm);
      await provider.halt(vm);
      const domain = '5f0c2a4e-1b2c-4d3e-8f9a-0b1c2d3e4f5a';
      const idDir = path.join(workdir, vm.id, '.vagrant', 'machines', 'default', 'libvirt');
      await mkdir(idDir, { recursive: true });
      await writeFile(path.join(idDir, 'id'), `${domain}\n`);
      await provider.resize({ ...vm, ramMb: 4096, cpuCores: 3, diskGb: 40 });
      const calls = readFileSync(virshLog, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { argv: string[] }).argv);
      expect(calls).toEqual([
        ['-c', 'qemu:///system', 'dominfo', domain],
        ['-c', 'qemu:///system', 'setmaxmem', domain, String(4096 * 1024), '--config'],
        ['-c', 'qemu:///system', 'setmem', domain, String(4096 * 1024), '--config'],
        ['-c', 'qemu:///system', 'setvcpus', domain, '3', '--config', '--maximum'],
        ['-c', 'qemu:///system', 'setvcpus', domain, '3', '--config'],
        ['-c', 'qemu:///system', 'domblklist', domain, '--details'],
        ['-c', 'qemu:///system', 'vol-info', `/var/lib/libvirt/images/${domain}.img`, '--bytes'],
        ['-c', 'qemu:///system', 'vol-resize', `/var/lib/libvirt/images/${domain}.img`, '40G'],
      ]);
      expect(await readFile(path.join(workdir, vm.id, 'Vagrantfile'), 'utf8')).toContain('libvirt.memory = 4096');

      // Smaller memory and cores: the values before the ceilings; a disk already as large is not touched.
      await rm(virshLog, { force: true });
      await provider.resize({ ...vm, ramMb: 1024, cpuCores: 1, diskGb: 30 });
      const shrink = readFileSync(virshLog, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { argv: string[] }).argv.slice(2, 3)[0]);
      expect(shrink).toEqual(['dominfo', 'setmem', 'setmaxmem', 'setvcpus', 'setvcpus', 'domblklist', 'vol-info']);
    });
  });

  it('validates its options', () => {
    expect(() => makeProvider({ provider: 'vmware' as 'libvirt' })).toThrow(/provider/);
    expect(() => makeProvider({ timeouts: { up: 0, halt: 1, reload: 1, destroy: 1, query: 1 } })).toThrow(/timeouts.up/);
  });

  describe('watching a host through libvirt (virsh domstats, one call per pass)', () => {
    it('states: one `virsh -c <uri> domstats --state` for every VM of the host, mapped by domain name', async () => {
      const provider = makeProvider({ host: { libvirtUri: 'qemu:///system' } });
      const running = makeVm();
      const stopped = makeVm();
      const never = makeVm();
      const gone = makeVm();
      await provider.up(running);
      await provider.up(stopped);
      await provider.halt(stopped);
      await provider.up(gone);
      await provider.destroy(gone);
      expect(await readFile(path.join(workdir, running.id, 'Vagrantfile'), 'utf8')).toContain(`libvirt.default_prefix = '${running.id}_'`);
      await rm(virshLogFile, { force: true });

      const states = await provider.states([running, stopped, never, gone]);
      expect(states).toEqual(
        new Map([
          [running.id, 'running'],
          [stopped.id, 'stopped'],
          [never.id, 'not_created'],
          [gone.id, 'not_created'],
        ]),
      );
      expect(readVirshLog()).toEqual([['-c', 'qemu:///system', 'domstats', '--state']]);
    });

    it.each([
      ['paused', 'unknown'],
      ['aborted', 'unknown'],
      ['preparing', 'unknown'],
      ['saved', 'stopped'],
    ])('maps the domain of a machine vagrant calls %s to %s', async (state, expected) => {
      const provider = makeProvider();
      const vm = makeVm();
      await provider.up(vm);
      await control({ state });
      await expect(provider.states([vm])).resolves.toEqual(new Map([[vm.id, expected]]));
    });

    it('sample: one `virsh domstats --list-running` for all running VMs; CPU from the second pass on, against the previous reading', async () => {
      const provider = makeProvider();
      const vms = Array.from({ length: 5 }, (_, i) => makeVm({ ramMb: 1024 * (i + 1), diskGb: 10 + i, cpuCores: 2 }));
      for (const vm of vms) await provider.up(vm);
      await provider.halt(vms[4]!);
      for (const vm of vms) await writeFile(path.join(workdir, vm.id, '.fake-cpu-ns'), '1000000000');
      await rm(virshLogFile, { force: true });

      const first = await provider.sample(vms);
      expect([...first.keys()]).toEqual(vms.slice(0, 4).map((vm) => vm.id));
      expect(first.get(vms[1]!.id)).toEqual({ memory_total_mb: 2048, memory_used_mb: 287, disk_size_gb: 11, disk_allocated_gb: 0.55 });
      expect(readVirshLog()).toEqual([['domstats', '--list-running', '--state', '--cpu-total', '--balloon', '--block', '--vcpu']]);

      // Two vCPUs busy for a second's worth of CPU time within however long it took: well above 0, at most 100.
      for (const vm of vms) await writeFile(path.join(workdir, vm.id, '.fake-cpu-ns'), '2000000000');
      const second = await provider.sample(vms);
      for (const vm of vms.slice(0, 4)) {
        expect(second.get(vm.id)!.cpu_percent).toBeGreaterThan(0);
        expect(second.get(vm.id)!.cpu_percent).toBeLessThanOrEqual(100);
      }
      expect(readVirshLog()).toHaveLength(2);
      // Nothing entered a guest.
      expect(readLog().filter((c) => c.command === 'ssh' || c.command === 'status')).toEqual([]);
    });

    it('a virsh failure fails the whole read, with virsh’s own message', async () => {
      const provider = makeProvider();
      const vm = makeVm();
      await provider.up(vm);
      await control({ virsh: { fail: { code: 1, stderr: 'error: failed to connect to the hypervisor' } } });
      for (const read of [() => provider.states([vm]), () => provider.sample([vm])]) {
        const err = await rejection(read());
        expect(err).toBeInstanceOf(ProviderError);
        expect(err.message).toBe('virsh domstats failed (exit 1)');
        expect(err.output).toContain('failed to connect to the hypervisor');
      }
    });

    it('VirtualBox has no host-wide read: states per VM through vagrant status, no samples, no virsh', async () => {
      const provider = makeProvider({ provider: 'virtualbox' });
      const vm = makeVm();
      await provider.up(vm);
      await expect(provider.states([vm])).resolves.toEqual(new Map([[vm.id, 'running']]));
      await expect(provider.sample([vm])).resolves.toEqual(new Map());
      expect(readVirshLog()).toEqual([]);
    });
  });
});

// --- the real vagrant, where installed ---------------------------------------------------------------

let hasVagrant = false;
try {
  execFileSync('vagrant', ['--version'], { stdio: 'pipe', timeout: 20000 });
  hasVagrant = true;
} catch {
  hasVagrant = false;
}
const itIfVagrant = hasVagrant ? it : it.skip;
const describeLabel = hasVagrant
  ? 'real vagrant (vagrant-libvirt)'
  : 'real vagrant: SKIPPED, no `vagrant` binary on PATH (install vagrant + vagrant-libvirt to run these)';

function vagrantValidate(cwd: string, env: Record<string, string>): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      'vagrant',
      ['validate'],
      { cwd, env: { ...process.env, VAGRANT_CHECKPOINT_DISABLE: '1', VAGRANT_NO_COLOR: '1', ...env }, timeout: 50000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}

describe(describeLabel, () => {
  const oses = Object.keys(DEFAULT_OS_CATALOG);

  const tcg = {
    libvirtDriver: 'qemu',
    libvirtCpuMode: 'custom',
    libvirtCpuModel: 'qemu64',
    libvirtUri: 'qemu:///system',
    bootTimeoutSeconds: 900,
  } as const;
  const pwned = path.join(os.tmpdir(), `vagrantfile-pwned-${process.pid}`);
  const hostileKey = `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ #{File.write('${pwned}', 'x')}'; File.write('${pwned}', 'x'); '`;

  itIfVagrant(
    'validates the generated libvirt Vagrantfile (TCG host settings, a provisioner with a hostile key) of every catalog OS',
    async () => {
      const results = await Promise.all(
        oses.map(async (os) => {
          const dir = await mkdtemp(path.join(base, `validate-libvirt-${os}-`));
          const vm = makeVm({ osType: os, name: `vm-${os.replace(/\./g, '')}`, sshPublicKeys: [hostileKey] });
          const text = renderVagrantfile(vm, { box: DEFAULT_OS_CATALOG[os]!, provider: 'libvirt', host: tcg });
          await writeFile(path.join(dir, 'Vagrantfile'), text);
          return { os, ...(await vagrantValidate(dir, { VAGRANT_DEFAULT_PROVIDER: 'libvirt' })) };
        }),
      );
      for (const r of results) expect(r).toMatchObject({ os: r.os, code: 0, output: expect.stringContaining('validated successfully') });
      // Ruby read the Vagrantfile (with the host settings and the provisioner) and ran nothing of the key.
      expect(existsSync(pwned)).toBe(false);
    },
    60000,
  );

  itIfVagrant(
    'validates the generated virtualbox Vagrantfiles (syntax and config.vm.disk; the vb block needs VirtualBox)',
    async () => {
      const results = await Promise.all(
        oses.map(async (os) => {
          const dir = await mkdtemp(path.join(base, `validate-vbox-${os}-`));
          const vm = makeVm({ osType: os, name: `vm-${os.replace(/\./g, '')}` });
          await writeFile(path.join(dir, 'Vagrantfile'), renderVagrantfile(vm, { box: DEFAULT_OS_CATALOG[os]!, provider: 'virtualbox' }));
          // Ruby syntax and the provider-independent config (incl. the experimental disk) with libvirt active...
          const common = await vagrantValidate(dir, { VAGRANT_DEFAULT_PROVIDER: 'libvirt', VAGRANT_EXPERIMENTAL: 'disks' });
          // ...and the vb block itself, which only passes or fails on its merits when VirtualBox is installed.
          const vbox = await vagrantValidate(dir, { VAGRANT_DEFAULT_PROVIDER: 'virtualbox', VAGRANT_EXPERIMENTAL: 'disks' });
          return { os, common, vbox };
        }),
      );
      for (const r of results) {
        expect(r.common).toMatchObject({ code: 0, output: expect.stringContaining('validated successfully') });
        if (r.vbox.code !== 0) expect(r.vbox.output).toMatch(/Vagrant could not detect VirtualBox|isn't usable/);
      }
    },
    60000,
  );

  itIfVagrant(
    'the validation is meaningful: an unknown libvirt setting is rejected',
    async () => {
      const dir = await mkdtemp(path.join(base, 'validate-bogus-'));
      const text = renderVagrantfile(makeVm(), { box: 'generic/ubuntu2204', provider: 'libvirt' }).replace(
        'libvirt.cpus = 2',
        'libvirt.cpus = 2\n    libvirt.bogus_setting = 1',
      );
      await writeFile(path.join(dir, 'Vagrantfile'), text);
      const r = await vagrantValidate(dir, { VAGRANT_DEFAULT_PROVIDER: 'libvirt' });
      expect(r.code).not.toBe(0);
      expect(r.output).toMatch(/shouldn't exist: bogus_setting/);
    },
    60000,
  );

  itIfVagrant(
    'VagrantProvider with the real binary: status, halt and ssh-config of a VM that was never booted',
    async () => {
      const provider = new VagrantProvider({
        bin: 'vagrant',
        workdir: path.join(base, 'real-vms'),
        provider: 'libvirt',
        catalog: DEFAULT_OS_CATALOG,
        timeouts: { up: 60, halt: 60, reload: 60, destroy: 60, query: 50 },
      });
      const vm = makeVm();
      const dir = path.join(base, 'real-vms', vm.id);
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'Vagrantfile'), renderVagrantfile(vm, { box: 'generic/ubuntu2204', provider: 'libvirt' }));
      await expect(provider.status(vm)).resolves.toBe('not_created');
      const err = await rejection(provider.connection(vm));
      expect(err).toBeInstanceOf(ProviderError);
      expect(err.message).toBe('vagrant ssh-config failed (exit 1)');
      expect(err.output).toMatch(/not yet ready for SSH/);
      // halt of a never-created machine is a no-op that exits 0. (destroy is not tried: even for a
      // machine that was never created, vagrant-libvirt connects to libvirtd, which is absent here.)
      await expect(provider.halt(vm)).resolves.toBeUndefined();
    },
    60000,
  );
});
