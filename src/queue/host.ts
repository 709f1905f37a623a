import { hostname } from 'node:os';

/** This process's host, as the worker records it in `vms.host` for the VMs it brings up. */
export const THIS_HOST = hostname();

/**
 * A queue only the workers on `host` consume. Provider-bound periodic work (stats, state checks)
 * must run where the VM's hypervisor is: a Vagrant machine exists only in its own host's workdir.
 */
export function hostQueue(base: string, host = THIS_HOST): string {
  return `${base}.${host.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 100)}`;
}
