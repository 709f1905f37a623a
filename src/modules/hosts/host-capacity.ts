import { statfsSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { Env } from '../../config/env.validation';

/** What a host offers to VMs, before overcommit. */
export interface Resources {
  cpuCores: number;
  ramMb: number;
  diskGb: number;
}

/** Free space's filesystem: VAGRANT_WORKDIR, or its nearest existing parent (it may not exist yet). */
function filesystemGb(path: string): number {
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    try {
      const s = statfsSync(dir);
      return Math.max(1, Math.floor((s.blocks * s.bsize) / 1024 ** 3));
    } catch (err) {
      if (dir === dirname(dir)) throw err;
    }
  }
}

/** HOST_CPU_CORES / HOST_RAM_MB / HOST_DISK_GB, each detected from this machine when unset. */
export function hostCapacity(env: Pick<Env, 'HOST_CPU_CORES' | 'HOST_RAM_MB' | 'HOST_DISK_GB' | 'VAGRANT_WORKDIR'>): Resources {
  return {
    cpuCores: env.HOST_CPU_CORES ?? Math.max(1, cpus().length),
    ramMb: env.HOST_RAM_MB ?? Math.max(1, Math.floor(totalmem() / 1024 ** 2)),
    diskGb: env.HOST_DISK_GB ?? filesystemGb(env.VAGRANT_WORKDIR),
  };
}
