/** The boundary to whatever runs the machines (Vagrant, or the simulator). */
export const VM_PROVIDER = Symbol('VM_PROVIDER');

/** What a provider needs to know about a VM. */
export interface VmTarget {
  id: string;
  name: string;
  osType: string;
  ramMb: number;
  diskGb: number;
  cpuCores: number;
  /** The guest account users log in as (VM_SSH_USER when the VM was created). */
  sshUser: string;
  /** OpenSSH public key lines to install for `sshUser` on first boot. */
  sshPublicKeys: string[];
  /**
   * The user data to run once as root at first boot, after the keys (a script with a `#!` line), on
   * an `up` that creates the machine; absent otherwise. Never logged.
   */
  userData?: string | null;
}

/** How a VM's user data ran at its first boot. */
export interface UserDataOutcome {
  exitCode: number;
  /** The last lines of its output (at most 20 lines, 4 KiB). */
  outputTail: string;
}

/** What `up` reports: the connection and, when the target carried user data, how it ran (null: no report). */
export interface VmUpResult extends VmConnection {
  userData?: UserDataOutcome | null;
}

/** A machine's state as the provider sees it. */
export type ProviderState = 'running' | 'stopped' | 'not_created' | 'unknown';

export interface VmConnection {
  ip_address: string | null;
  ssh_port: number | null;
}

/**
 * One running machine's figures from a sampling pass; a figure the provider cannot see is absent
 * (libvirt sees no filesystem use or load without a guest agent; CPU needs two readings).
 */
export interface VmStats {
  /** Of all its vCPUs together, 0-100. */
  cpu_percent?: number;
  memory_used_mb?: number;
  /** The RAM the guest has. */
  memory_total_mb?: number;
  /** Filesystem use inside the guest. */
  disk_used_gb?: number;
  /** The size of its disks as the guest sees them. */
  disk_size_gb?: number;
  /** What its disks take on the host. */
  disk_allocated_gb?: number;
  load_1m?: number;
}

/** A provider operation failed; `output` is the tool's own (trimmed) output for the event feed. */
export class ProviderError extends Error {
  constructor(
    message: string,
    readonly output = '',
    readonly timedOut = false,
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

/**
 * The operations that change a machine take an optional `signal`: when it aborts (shutdown past its
 * drain window) the operation stops its work and rejects, so the job can go to another worker.
 */
/** Why this process runs its provider: VM_PROVIDER as set, and the reason (what auto found, or the setting). */
export interface ProviderChoice {
  requested: 'auto' | 'vagrant' | 'simulator';
  reason: string;
}

export interface VmProvider {
  readonly name: 'vagrant' | 'simulator';
  /** Set by createVmProvider (absent on a provider built by hand, e.g. in tests). */
  choice?: ProviderChoice;
  up(vm: VmTarget, signal?: AbortSignal): Promise<VmUpResult>;
  halt(vm: VmTarget, signal?: AbortSignal): Promise<void>;
  reload(vm: VmTarget, signal?: AbortSignal): Promise<VmConnection>;
  destroy(vm: VmTarget, signal?: AbortSignal): Promise<void>;
  /** Gives a stopped machine `vm`'s (new) memory, cores and disk size; the guest sees them at its next boot. */
  resize(vm: VmTarget, signal?: AbortSignal): Promise<void>;
  /**
   * Wipes the machine and brings it up again from `vm`'s OS image, with its keys and (when the target
   * carries it) its user data, as at a first boot: same id, name and size, its snapshots gone.
   */
  rebuild(vm: VmTarget, signal?: AbortSignal): Promise<VmUpResult>;
  /** Takes snapshot `snapshotId` of the machine's disk, running or stopped, kept on this host. */
  createSnapshot(vm: VmTarget, snapshotId: string, signal?: AbortSignal): Promise<void>;
  /** Removes a snapshot; one that does not exist is already removed. */
  deleteSnapshot(vm: VmTarget, snapshotId: string, signal?: AbortSignal): Promise<void>;
  /** Reverts the disk to a snapshot and leaves the machine `then` (running: its connection). */
  restoreSnapshot(vm: VmTarget, snapshotId: string, then: 'running' | 'stopped', signal?: AbortSignal): Promise<VmConnection | undefined>;
  /** One machine's state (for operations and tools; the reconciler reads them all with `states`). */
  status(vm: VmTarget): Promise<ProviderState>;
  connection(vm: VmTarget): Promise<VmConnection>;
  /**
   * The state of every machine of `vms` (this host's), keyed by VM id, each VM present: ONE read of
   * the hypervisor per call whatever the number of VMs (the reconciler calls it once per pass).
   */
  states(vms: readonly VmTarget[]): Promise<Map<string, ProviderState>>;
  /**
   * One sample of each machine of `vms` that is running, keyed by VM id (a VM without a sample is
   * absent): ONE read of the hypervisor per call whatever the number of VMs (once per sampling pass).
   */
  sample(vms: readonly VmTarget[]): Promise<Map<string, VmStats>>;
}
