import type { ProviderState, VmStats } from './vm-provider.interface';

/**
 * Reading libvirt's own view of a host's domains from `virsh domstats`, whose output is machine-readable:
 * one `Domain: 'name'` header per domain, then its `  key=value` fields (typed parameters, one per
 * line), a blank line between domains. Everything here is pure: the provider runs the command.
 */

/** One domain of `virsh domstats` output: its name and its fields, as printed. */
export interface DomainStats {
  name: string;
  fields: Map<string, string>;
}

/** Splits `virsh domstats` output into domains; lines outside a domain's record are ignored. */
export function parseDomStats(text: string): DomainStats[] {
  const domains: DomainStats[] = [];
  let current: DomainStats | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const header = /^Domain: (?:'(.*)'|(\S.*))$/.exec(line);
    if (header) {
      current = { name: header[1] ?? header[2] ?? '', fields: new Map() };
      domains.push(current);
      continue;
    }
    const field = /^\s+([A-Za-z0-9_.-]+)=(.*)$/.exec(line);
    if (field && current) current.fields.set(field[1] as string, field[2] as string);
  }
  return domains;
}

/** A field as a finite number, or undefined (absent or not a number). */
function numberField(d: DomainStats, key: string): number | undefined {
  const raw = d.fields.get(key);
  if (raw === undefined || !/^-?\d+(\.\d+)?$/.test(raw.trim())) return undefined;
  return Number(raw);
}

/** virDomainState values (`state.state`) as libvirt numbers them. */
const VIR_DOMAIN_RUNNING = 1;
const VIR_DOMAIN_BLOCKED = 2;
const VIR_DOMAIN_SHUTOFF = 5;

/**
 * The provider state of a domain from its `state.state`: running (and blocked, a running domain
 * waiting on a resource) is running, shut off is stopped; paused, shutting down, crashed,
 * suspended or no state are unknown, which the reconciler leaves alone.
 */
export function domainState(d: DomainStats): ProviderState {
  const state = numberField(d, 'state.state');
  if (state === VIR_DOMAIN_RUNNING || state === VIR_DOMAIN_BLOCKED) return 'running';
  if (state === VIR_DOMAIN_SHUTOFF) return 'stopped';
  return 'unknown';
}

/** A domain's accumulated CPU time (ns) and when it was read (ms, monotonic clock). */
export interface CpuReading {
  cpuTimeNs: number;
  atMs: number;
}

/**
 * The domain's CPU time in ns: `cpu.time` (the cgroup's, every QEMU thread) when libvirt reports it,
 * else the sum of `vcpu.N.time` (read from /proc per vCPU thread: what a host without cgroups has).
 */
export function domainCpuTimeNs(d: DomainStats): number | undefined {
  const total = numberField(d, 'cpu.time');
  if (total !== undefined) return total;
  const count = numberField(d, 'vcpu.maximum') ?? numberField(d, 'vcpu.current');
  if (count === undefined) return undefined;
  let sum = 0;
  let seen = 0;
  for (let i = 0; i < count; i++) {
    const t = numberField(d, `vcpu.${i}.time`);
    if (t !== undefined) {
      sum += t;
      seen++;
    }
  }
  return seen ? sum : undefined;
}

const KIB_PER_MB = 1024;
const BYTES_PER_GB = 1024 ** 3;

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/**
 * One running domain's figures for the metrics, from what libvirt sees without entering the guest:
 * - cpu_percent: CPU time used between `previous` and `now` over the elapsed time and the domain's
 *   vCPUs (`vcpu.current`, else `cpuCores`), 0-100; absent without a previous reading (first pass) or
 *   when the time went backwards (the domain restarted);
 * - memory_total_mb: the balloon's current size (the RAM the guest has);
 * - memory_used_mb: the guest's own view (balloon `available` minus `usable`, or minus `unused`) when
 *   the guest's balloon driver reports statistics, otherwise the QEMU process's resident memory
 *   (`balloon.rss`) capped at the RAM;
 * - disk_size_gb / disk_allocated_gb: the sum over the domain's disks of their capacity (what the guest
 *   sees) and of their allocation on the host.
 * Filesystem use and load average are the guest's own and are not here (no guest agent).
 */
export function domainStats(d: DomainStats, cpuCores: number, previous: CpuReading | undefined, now: CpuReading | undefined): VmStats {
  const stats: VmStats = {};
  if (previous && now && now.atMs > previous.atMs && now.cpuTimeNs >= previous.cpuTimeNs) {
    const vcpus = numberField(d, 'vcpu.current') ?? cpuCores;
    const percent = ((now.cpuTimeNs - previous.cpuTimeNs) / ((now.atMs - previous.atMs) * 1e6 * Math.max(1, vcpus))) * 100;
    stats.cpu_percent = round(Math.min(100, Math.max(0, percent)), 1);
  }
  const currentKib = numberField(d, 'balloon.current') ?? numberField(d, 'balloon.maximum');
  if (currentKib !== undefined) stats.memory_total_mb = Math.round(currentKib / KIB_PER_MB);
  const availableKib = numberField(d, 'balloon.available');
  const freeKib = numberField(d, 'balloon.usable') ?? numberField(d, 'balloon.unused');
  const rssKib = numberField(d, 'balloon.rss');
  if (availableKib !== undefined && freeKib !== undefined) {
    stats.memory_used_mb = Math.round(Math.max(0, availableKib - freeKib) / KIB_PER_MB);
  } else if (rssKib !== undefined) {
    stats.memory_used_mb = Math.round((currentKib !== undefined ? Math.min(rssKib, currentKib) : rssKib) / KIB_PER_MB);
  }
  const disks = numberField(d, 'block.count') ?? 0;
  let capacity = 0;
  let allocation = 0;
  let seen = 0;
  for (let i = 0; i < disks; i++) {
    const cap = numberField(d, `block.${i}.capacity`);
    if (cap === undefined) continue; // an empty drive (a CD-ROM without a medium)
    capacity += cap;
    allocation += numberField(d, `block.${i}.allocation`) ?? 0;
    seen++;
  }
  if (seen) {
    stats.disk_size_gb = round(capacity / BYTES_PER_GB, 2);
    stats.disk_allocated_gb = round(allocation / BYTES_PER_GB, 2);
  }
  return stats;
}
