import { Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseVagrantEnv, type Env } from '../../../config/env.validation';
import type { OsCatalog } from '../os-catalog';
import type { OperationTimeouts } from '../vm-jobs';
import { SimulatorProvider } from './simulator.provider';
import { VagrantProvider } from './vagrant.provider';
import type { VagrantHostSettings } from './vagrantfile';
import type { ProviderChoice, VmProvider } from './vm-provider.interface';

/** stdout of `<bin> <args>` if it exits 0 within 10 s, else null. */
function run(bin: string, args: string[]): Promise<string | null> {
  return new Promise((done) => {
    execFile(bin, args, { timeout: 10_000 }, (err, stdout) => done(err ? null : stdout));
  });
}

/** Whether `<bin> --version` answers within 10 s. */
export async function vagrantAnswers(bin: string): Promise<boolean> {
  return /Vagrant \d/.test((await run(bin, ['--version'])) ?? '');
}

/** What VM_PROVIDER=auto needs to know about the machine (injectable for tests). */
export interface MachineProbe {
  /** `vagrant --version` answers. */
  vagrant(): Promise<boolean>;
  /** The boxes `vagrant box list` lists, as `name (provider)`, or null when it fails. */
  boxes(): Promise<{ name: string; provider: string }[] | null>;
  /** libvirt answers at the URI (`virsh -c <uri> uri`). */
  libvirt(uri: string): Promise<boolean>;
  /** /dev/kvm can be opened for reading and writing by this process. */
  kvm(): Promise<boolean>;
}

export function machineProbe(bin: string): MachineProbe {
  return {
    vagrant: () => vagrantAnswers(bin),
    boxes: async () => {
      const out = await run(bin, ['box', 'list']);
      if (out === null) return null;
      return [...out.matchAll(/^(\S+)\s+\(([^,)]+)/gm)].map(([, name = '', provider = '']) => ({ name, provider: provider.trim() }));
    },
    libvirt: async (uri) => (await run('virsh', ['-c', uri, 'uri'])) !== null,
    kvm: () =>
      access('/dev/kvm', constants.R_OK | constants.W_OK).then(
        () => true,
        () => false,
      ),
  };
}

/** libvirt's default URI for a privileged connection (vagrant-libvirt's default too). */
const DEFAULT_LIBVIRT_URI = 'qemu:///system';

/**
 * Whether this machine can run the catalog's VMs through Vagrant: the binary answers, every box of the
 * catalog is there for the provider (else the first `vagrant up` would try to download one and sit in
 * `provisioning`), and for libvirt the daemon answers and the driver can run (`kvm` needs /dev/kvm;
 * `qemu` is software emulation). Returns what is missing, or an empty list.
 */
export async function vagrantUnusableBecause(
  probe: MachineProbe,
  settings: { bin: string; provider: 'libvirt' | 'virtualbox'; libvirtDriver: 'kvm' | 'qemu'; libvirtUri?: string; catalog: OsCatalog },
): Promise<string[]> {
  if (!(await probe.vagrant())) return [`${settings.bin} does not answer`];
  const why: string[] = [];
  const boxes = await probe.boxes();
  const wanted = [...new Set(Object.values(settings.catalog))].sort();
  const missing = boxes ? wanted.filter((b) => !boxes.some((x) => x.name === b && x.provider === settings.provider)) : wanted;
  if (missing.length) why.push(`no ${settings.provider} box ${missing.join(', ')} (vagrant box add)`);
  if (settings.provider === 'libvirt') {
    const uri = settings.libvirtUri ?? DEFAULT_LIBVIRT_URI;
    if (!(await probe.libvirt(uri))) why.push(`libvirt does not answer at ${uri}`);
    if (settings.libvirtDriver === 'kvm' && !(await probe.kvm())) {
      why.push('no usable /dev/kvm (set VAGRANT_LIBVIRT_DRIVER=qemu for software emulation)');
    }
  }
  return why;
}

/**
 * VM_PROVIDER=auto picks Vagrant only when the machine can run the catalog's VMs
 * (vagrantUnusableBecause), else the simulator, and says why in one log line.
 */
export async function createVmProvider(
  config: ConfigService<Env, true>,
  catalog: OsCatalog,
  timeouts: OperationTimeouts,
  probe: MachineProbe = machineProbe(config.get('VAGRANT_BIN', { infer: true })),
): Promise<VmProvider> {
  const logger = new Logger('VmProvider');
  const wanted = config.get('VM_PROVIDER', { infer: true });
  const bin = config.get('VAGRANT_BIN', { infer: true });
  let use: 'vagrant' | 'simulator' = wanted === 'auto' ? 'simulator' : wanted;
  let reason = `VM_PROVIDER=${wanted}`;
  if (wanted === 'auto') {
    const why = await vagrantUnusableBecause(probe, {
      bin,
      provider: config.get('VAGRANT_PROVIDER', { infer: true }),
      libvirtDriver: config.get('VAGRANT_LIBVIRT_DRIVER', { infer: true }),
      libvirtUri: config.get('VAGRANT_LIBVIRT_URI', { infer: true }),
      catalog,
    });
    use = why.length ? 'simulator' : 'vagrant';
    reason = use === 'vagrant' ? `${bin} answers, the catalog's boxes are there, the machine can run them` : why.join('; ');
    logger.log(
      use === 'vagrant'
        ? `VM_PROVIDER=auto: using Vagrant (${reason})`
        : `VM_PROVIDER=auto: using the simulator: ${reason} (VM_PROVIDER=vagrant forces Vagrant)`,
    );
  }
  const choice: ProviderChoice = { requested: wanted, reason };
  if (use === 'simulator') {
    const delayMs = config.get('SIMULATOR_DELAY_MS', { infer: true });
    const failureRate = config.get('SIMULATOR_FAILURE_RATE', { infer: true });
    const stateDir = resolve(
      config.get('SIMULATOR_STATE_DIR', { infer: true }) ?? join(config.get('DATA_DIR', { infer: true }), 'simulator'),
    );
    logger.log(`Provider: simulator (delay ${delayMs} ms, failure rate ${failureRate}, machines in ${stateDir})`);
    return Object.assign(new SimulatorProvider({ delayMs, failureRate, stateDir }), { choice });
  }
  const provider = config.get('VAGRANT_PROVIDER', { infer: true });
  const workdir = resolve(config.get('VAGRANT_WORKDIR', { infer: true }));
  const host: VagrantHostSettings = {
    libvirtDriver: config.get('VAGRANT_LIBVIRT_DRIVER', { infer: true }),
    libvirtCpuMode: config.get('VAGRANT_LIBVIRT_CPU_MODE', { infer: true }),
    libvirtCpuModel: config.get('VAGRANT_LIBVIRT_CPU_MODEL', { infer: true }),
    libvirtUri: config.get('VAGRANT_LIBVIRT_URI', { infer: true }),
    bootTimeoutSeconds: config.get('VAGRANT_BOOT_TIMEOUT_SECONDS', { infer: true }),
  };
  const env = parseVagrantEnv(config.get('VAGRANT_ENV', { infer: true }));
  const driver = provider === 'libvirt' ? ` driver ${host.libvirtDriver}` : '';
  // Variable names only: values may hold paths or credentials of the host.
  const envNames = Object.keys(env).length ? `, extra env ${Object.keys(env).join(' ')}` : '';
  logger.log(`Provider: vagrant (${bin}, ${provider}${driver}, machines in ${workdir}${envNames})`);
  const virshBin = config.get('VIRSH_BIN', { infer: true });
  return Object.assign(new VagrantProvider({ bin, workdir, provider, catalog, timeouts, env, host, virshBin }), { choice });
}
