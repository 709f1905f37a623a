import { Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { parseVagrantEnv, type Env } from '../../../config/env.validation';
import type { OsCatalog } from '../os-catalog';
import type { OperationTimeouts } from '../vm-jobs';
import { SimulatorProvider } from './simulator.provider';
import { VagrantProvider } from './vagrant.provider';
import type { VagrantHostSettings } from './vagrantfile';
import type { VmProvider } from './vm-provider.interface';

/** Whether `<bin> --version` answers within 10 s. */
export function vagrantAnswers(bin: string): Promise<boolean> {
  return new Promise((done) => {
    execFile(bin, ['--version'], { timeout: 10_000 }, (err, stdout) => done(!err && /Vagrant \d/.test(stdout)));
  });
}

/** VM_PROVIDER=auto picks vagrant when the binary answers, else the simulator, and says which. */
export async function createVmProvider(
  config: ConfigService<Env, true>,
  catalog: OsCatalog,
  timeouts: OperationTimeouts,
): Promise<VmProvider> {
  const logger = new Logger('VmProvider');
  const wanted = config.get('VM_PROVIDER', { infer: true });
  const bin = config.get('VAGRANT_BIN', { infer: true });
  let use: 'vagrant' | 'simulator' = wanted === 'auto' ? 'simulator' : wanted;
  if (wanted === 'auto') {
    use = (await vagrantAnswers(bin)) ? 'vagrant' : 'simulator';
    logger.log(`VM_PROVIDER=auto: ${use === 'vagrant' ? `${bin} answers, using Vagrant` : `${bin} not found, using the simulator`}`);
  }
  if (use === 'simulator') {
    const delayMs = config.get('SIMULATOR_DELAY_MS', { infer: true });
    const failureRate = config.get('SIMULATOR_FAILURE_RATE', { infer: true });
    const stateDir = resolve(
      config.get('SIMULATOR_STATE_DIR', { infer: true }) ?? join(config.get('DATA_DIR', { infer: true }), 'simulator'),
    );
    logger.log(`Provider: simulator (delay ${delayMs} ms, failure rate ${failureRate}, machines in ${stateDir})`);
    return new SimulatorProvider({ delayMs, failureRate, stateDir });
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
  return new VagrantProvider({ bin, workdir, provider, catalog, timeouts, env, host });
}
