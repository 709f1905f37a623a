import { hostname } from 'node:os';

/** Host names are queue-name safe as they are, so two hosts can never share a queue. */
export const HOST_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

/** HOST_NAME's default: the machine's hostname, made queue-name safe. */
export function defaultHostName(): string {
  const name = hostname()
    .replace(/[^A-Za-z0-9_.-]/g, '_')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 100);
  return name || 'localhost';
}

/**
 * A queue only the workers on `host` consume. Everything provider-bound (a VM's operations, stats,
 * state checks) must run where the VM's hypervisor is: a Vagrant machine exists only in its own
 * host's workdir. Names from before HOST_NAME was validated are sanitized the same way as ever.
 */
export function hostQueue(base: string, host: string): string {
  return `${base}.${host.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 100)}`;
}
