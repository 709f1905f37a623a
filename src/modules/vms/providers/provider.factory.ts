import { Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import type { Env } from '../../../config/env.validation';
import type { OsCatalog } from '../os-catalog';
import type { OperationTimeouts } from '../vm-jobs';
import { SimulatorProvider } from './simulator.provider';
import { VagrantProvider } from './vagrant.provider';
import type { VmProvider } from './vm-provider.interface';

/** Whether `<bin> --version` answers within 10 s. */
export function vagrantAnswers(bin: string): Promise<boolean> {
  return new Promise((done) => {
    execFile(bin, ['--version'], { timeout: 10_000 }, (err, stdout) => done(!err && /Vagrant \d/.test(stdout)));
  });
}

/** VM_PROVIDER=auto picks vagrant when the binary answers, else the simulator, and says which. */
export async function createVmProvider(config: ConfigService<Env, true>, catalog: OsCatalog, timeouts: OperationTimeouts): Promise<VmProvider> {
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
    logger.log(`Provider: simulator (delay ${delayMs} ms, failure rate ${failureRate})`);
    return new SimulatorProvider({ delayMs, failureRate });
  }
  const provider = config.get('VAGRANT_PROVIDER', { infer: true });
  const workdir = resolve(config.get('VAGRANT_WORKDIR', { infer: true }));
  logger.log(`Provider: vagrant (${bin}, ${provider}, machines in ${workdir})`);
  return new VagrantProvider({ bin, workdir, provider, catalog, timeouts });
}
