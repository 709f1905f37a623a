import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DataSource, EntityManager } from 'typeorm';
import type { Env } from '../../config/env.validation';
import { Job, JobContext, QueueService } from '../../queue/queue.service';
import type { EventAction, RecordEventInput } from '../events/events.types';
import { toVmTarget, type UserDataStatus, type Vm } from './entities/vm.entity';
import { ProviderError, VM_PROVIDER, VmProvider, VmTarget, VmUpResult } from './providers/vm-provider.interface';
import {
  ensureVmOperationQueue,
  jobExpirySeconds,
  OPERATION_TIMEOUTS,
  operationTimeout,
  OperationTimeouts,
  VM_OPERATION_DEAD_QUEUE,
  VM_OPERATION_QUEUE,
  vmOperationQueue,
  VmOperationJob,
} from './vm-jobs';
import { SNAPSHOT_STATUSES, TRANSITIONS, VmOperation, VmPendingOperation, VmStatus } from './vm-state';
import { ADD_CURRENT_RUN, FAILED_SET, STARTED_SET, STOPPED_SET, VmTransitionsService } from './vm-transitions.service';
import { VmsRepository } from './vms.repository';
import { isSnapshotJob, SnapshotOutcomes } from './snapshots/snapshot-outcomes';
import { SnapshotsRepository } from './snapshots/snapshots.repository';
import { HostHeartbeatService } from '../hosts/host-heartbeat.service';
import { must } from '../../common/must';

/**
 * Polling of the legacy and dead-letter queues, whose consumers every worker process runs: with a
 * process per host, polling both every 30 s was a third of pg-boss's polling (bench:fleet). Legacy
 * jobs wake their consumers (a NOTIFY): a poll is only the safety net. Dead letters wake the process
 * whose job failed, but not when the job expired (its worker died): pg-boss's maintenance moves it,
 * and only a poll finds it, so that one is polled more often.
 */
const LEGACY_QUEUE_POLL_SECONDS = 300;
const DEAD_LETTER_POLL_SECONDS = 60;

/** Operations that move the VM through a transitional status (snapshot create/delete leave it alone). */
type StatusOperation = Exclude<VmOperation, VmPendingOperation>;

const DONE_EVENT: Record<StatusOperation, (from: VmStatus) => EventAction> = {
  up: (from) => (from === 'provisioning' ? 'vm.provisioned' : 'vm.started'),
  halt: () => 'vm.stopped',
  reload: () => 'vm.restarted',
  destroy: () => 'vm.destroyed',
  resize: () => 'vm.resized',
  rebuild: () => 'vm.rebuilt',
  restore: () => 'vm.snapshot_restored',
};

const RESTARTED_SET = `uptime_seconds = ${ADD_CURRENT_RUN}, ${STARTED_SET}`;

/** SQL assignments (beyond status) for each operation's success; restore's depends on where it ends. */
const DONE_SET: Record<Exclude<StatusOperation, 'restore'>, string> = {
  up: STARTED_SET,
  reload: RESTARTED_SET,
  halt: STOPPED_SET,
  // A pending snapshot operation's slot goes with the VM (its job finds its snapshot gone).
  destroy: `${STOPPED_SET}, destroyed_at = now(), pending_operation = NULL`,
  resize: STOPPED_SET,
  rebuild: RESTARTED_SET,
};

/** Where a status operation ends: its transition's, or for a restore the power state the VM had. */
function doneStatus(job: VmOperationJob): VmStatus {
  if (job.op === 'restore') return job.then ?? 'running';
  return must(TRANSITIONS[job.expect], `the transition of ${job.expect}`).done;
}

function doneSet(op: StatusOperation, job: VmOperationJob): string {
  if (op !== 'restore') return DONE_SET[op];
  return job.then === 'stopped' ? STOPPED_SET : RESTARTED_SET;
}

/** Operations that boot a fresh machine, where the VM's user data runs (again). */
const FIRST_BOOTS: readonly VmOperation[] = ['up', 'rebuild'];

/** The critical event of a failed operation: provisioning failures have their own name. */
const failedAction = (job: VmOperationJob): EventAction => (job.expect === 'provisioning' ? 'vm.provision_failed' : 'vm.operation_failed');

/**
 * Waits for `work` until `signal` aborts. The provider got the same signal and stops its work (the
 * Vagrant provider kills the command's process group); one that ignores it is not waited for.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function trimOutput(text: string, max = 2000): string {
  const t = text.trim();
  return t.length > max ? `…${t.slice(-max)}` : t;
}

/**
 * Consumes the VM operation jobs of its host (HOST_NAME): the host's own queue, plus the shared
 * queue of VMs with no host recorded yet (from before hosts). Once it consumes, it registers the
 * host, so placement only ever chooses hosts that have a worker. Each job takes a lease on its VM row (one provider operation per VM
 * at a time, across processes), runs the provider with a timeout, and records the outcome and its
 * event in one transaction. A crashed worker's job expires and is retried; one that exhausts its
 * retries is dead-lettered and its VM marked failed, so no VM stays in a transitional state.
 */
@Injectable()
export class VmWorker implements OnApplicationBootstrap {
  private readonly logger = new Logger(VmWorker.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly queue: QueueService,
    private readonly vms: VmsRepository,
    private readonly transitions: VmTransitionsService,
    private readonly config: ConfigService<Env, true>,
    @Inject(VM_PROVIDER) private readonly provider: VmProvider,
    @Inject(OPERATION_TIMEOUTS) private readonly timeouts: OperationTimeouts,
    private readonly hosts: HostHeartbeatService,
    private readonly snapshotOutcomes: SnapshotOutcomes,
    private readonly snapshots: SnapshotsRepository,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.queue.ensureQueue(VM_OPERATION_DEAD_QUEUE);
    await ensureVmOperationQueue(this.queue, VM_OPERATION_QUEUE);
    if (!this.config.get('WORKER', { infer: true })) return;
    const own = vmOperationQueue(this.hosts.name);
    await ensureVmOperationQueue(this.queue, own);
    const concurrency = this.config.get('WORKER_CONCURRENCY', { infer: true });
    // Each job of `queue` runs one operation (`run`), one job at a time per consumer.
    const operate =
      (queue: string) =>
      ([job]: Job<VmOperationJob>[], context: JobContext) => {
        const { id, data } = must(job, 'a job');
        return this.run(id, data, queue, context);
      };
    // New jobs wake these workers (QueueService.send's NOTIFY); they poll only as a safety net.
    for (let i = 0; i < concurrency; i++) await this.queue.work<VmOperationJob>(own, { batchSize: 1 }, operate(own));
    // Legacy VMs are rare: one consumer, woken by their jobs' NOTIFY like the host's own.
    const legacy = { batchSize: 1, pollingIntervalSeconds: LEGACY_QUEUE_POLL_SECONDS };
    await this.queue.work<VmOperationJob>(VM_OPERATION_QUEUE, legacy, operate(VM_OPERATION_QUEUE));
    // Dead letters come from pg-boss (no NOTIFY): QueueService wakes this worker after a failure here.
    const dead = { batchSize: 1, pollingIntervalSeconds: DEAD_LETTER_POLL_SECONDS };
    await this.queue.work<VmOperationJob>(VM_OPERATION_DEAD_QUEUE, dead, ([job]) =>
      this.queue.untilDatabaseAnswers(() => this.abandon(must(job, 'a job').data)),
    );
    await this.hosts.register();
    this.logger.log(
      `Worker of host ${this.hosts.name} consuming ${own} (${concurrency} at a time) with the ${this.provider.name} provider`,
    );
  }

  /**
   * Runs one operation. Its database steps wait out an outage (`untilDatabaseAnswers`): the
   * provider's work is never repeated because its outcome could not be recorded, and the outcome is
   * recorded as soon as the database is back. On shutdown past the drain window (`context.signal`)
   * the operation is stopped and the job handed back, its lease cleared, for another worker.
   */
  async run(jobId: string, job: VmOperationJob, queue = vmOperationQueue(this.hosts.name), context?: JobContext): Promise<void> {
    const leased = await this.queue.untilDatabaseAnswers(() => this.acquireLease(jobId, job));
    if (leased === 'missing') return;
    if (leased === 'busy') {
      // Another operation holds this VM; try again shortly rather than run two at once.
      await this.queue.sendLater(queue, job, 2, { expireInSeconds: jobExpirySeconds(job.op, this.timeouts) });
      return;
    }
    const vm = leased;
    let handedBack = false;
    try {
      if (isSnapshotJob(job)) {
        // The VM's status stays as it was; the snapshot's own status says whether the job is still wanted.
        const wanted = await this.queue.untilDatabaseAnswers(() => this.snapshotOutcomes.pendingFor(job));
        if (!wanted) {
          this.logger.debug(`Skipping stale ${job.op} of snapshot ${job.snapshotId} (VM ${vm.id})`);
          return;
        }
        if (!SNAPSHOT_STATUSES.includes(vm.status)) {
          const err = new ProviderError(`the VM is ${vm.status}`);
          await this.queue.untilDatabaseAnswers(() => this.snapshotOutcomes.fail(vm, job, err, this.hosts.name));
          return;
        }
      } else if (vm.status !== job.expect) {
        this.logger.debug(`Skipping stale ${job.op} for VM ${vm.id}: it is ${vm.status}, not ${job.expect}`);
        return;
      }
      const target = toVmTarget(vm);
      // First boot (or a rebuild) with user data: the script travels to the provider, never to a log.
      if (FIRST_BOOTS.includes(job.op) && vm.userDataStatus === 'pending')
        target.userData = await this.queue.untilDatabaseAnswers(() => this.vms.userDataOf(vm.id));
      let connection: VmUpResult | undefined;
      // The operation's deadline and shutdown both cancel the provider's call (not just stop waiting for it).
      const seconds = operationTimeout(job.op, this.timeouts);
      const deadline = AbortSignal.timeout(seconds * 1000);
      try {
        const signal = context ? AbortSignal.any([deadline, context.signal]) : deadline;
        connection = await untilAborted(this.execute(job, target, signal), signal);
      } catch (err) {
        // Stopped by shutdown: not a failure of the VM's.
        if (context?.signal.aborted) {
          handedBack = await this.handBack(vm, jobId, job, context);
          return;
        }
        // Past the deadline the failure is the timeout, whatever the cancelled call threw.
        const failure = deadline.aborted
          ? new ProviderError(`${job.op} timed out after ${seconds} s`, err instanceof ProviderError ? err.output : '', true)
          : err;
        await this.queue.untilDatabaseAnswers(() => this.fail(vm, job, failure));
        return;
      }
      await this.queue.untilDatabaseAnswers(() => this.succeed(vm, job, connection));
    } finally {
      if (!handedBack) await this.queue.untilDatabaseAnswers(() => this.vms.releaseLease(this.dataSource, vm.id, jobId));
    }
  }

  /** Shutdown: the VM's lease cleared and its job back on the queue, in one transaction. */
  private async handBack(vm: Vm, jobId: string, job: VmOperationJob, context: JobContext): Promise<boolean> {
    try {
      await this.queue.untilDatabaseAnswers(() =>
        this.dataSource.transaction(async (m) => {
          await this.vms.releaseLease(m, vm.id, jobId);
          await context.handBack(m);
        }),
      );
      this.logger.warn(`VM ${vm.id}: ${job.op} stopped by shutdown; job handed back to the queue`);
      return true;
    } catch (err) {
      this.logger.error(
        `VM ${vm.id}: could not hand back its ${job.op} job (${(err as Error).message}); pg-boss retries it when it expires`,
      );
      return false;
    }
  }

  private async execute(job: VmOperationJob, vm: VmTarget, signal?: AbortSignal): Promise<VmUpResult | undefined> {
    switch (job.op) {
      case 'up':
        return this.provider.up(vm, signal);
      case 'reload':
        return this.provider.reload(vm, signal);
      case 'rebuild':
        return this.provider.rebuild(vm, signal);
      case 'restore':
        return this.provider.restoreSnapshot(vm, must(job.snapshotId, 'the snapshot to restore'), job.then ?? 'running', signal);
      case 'halt':
        await this.provider.halt(vm, signal);
        return undefined;
      case 'destroy':
        await this.provider.destroy(vm, signal);
        return undefined;
      case 'resize':
        await this.provider.resize(vm, signal);
        return undefined;
      case 'snapshot_create':
        await this.provider.createSnapshot(vm, must(job.snapshotId, 'the snapshot to take'), signal);
        return undefined;
      case 'snapshot_delete':
        await this.provider.deleteSnapshot(vm, must(job.snapshotId, 'the snapshot to delete'), signal);
        return undefined;
    }
  }

  /** Takes the VM's operation lease and reads the VM in the same statement. */
  private async acquireLease(jobId: string, job: VmOperationJob): Promise<Vm | 'busy' | 'missing'> {
    const vm = await this.vms.acquireLease(job.vmId, jobId, jobExpirySeconds(job.op, this.timeouts));
    if (vm) return vm;
    return (await this.vms.exists(job.vmId)) ? 'busy' : 'missing';
  }

  private async succeed(vm: Vm, job: VmOperationJob, result?: VmUpResult): Promise<void> {
    if (isSnapshotJob(job)) return this.snapshotOutcomes.succeed(vm, job, this.hosts.name);
    const op = job.op as StatusOperation;
    const done = doneStatus(job);
    const { userData, ...connection }: Partial<VmUpResult> = result ?? {};
    let set = doneSet(op, job);
    const params = set.includes('$3') ? [connection.ip_address ?? null, connection.ssh_port ?? null, this.hosts.name] : [];
    const details: Record<string, unknown> = { op, from: job.expect, to: done, ...connection, host: this.hosts.name };
    if (op === 'resize') Object.assign(details, { ram_mb: vm.ramMb, cpu_cores: vm.cpuCores, disk_gb: vm.diskGb });
    if (op === 'rebuild') details.os_type = vm.osType;
    if (op === 'restore') details.snapshot_id = job.snapshotId;
    const events: RecordEventInput[] = [
      {
        action: DONE_EVENT[op](job.expect),
        message: `VM ${vm.name} is ${done}`,
        details,
        userId: vm.userId,
        vmId: vm.id,
      },
    ];
    if (FIRST_BOOTS.includes(op) && vm.userDataStatus === 'pending') {
      // The provider's report, or none (a machine that existed already ran no provisioner): failed.
      const status: UserDataStatus = userData?.exitCode === 0 ? 'succeeded' : 'failed';
      set += `, user_data_status = '${status}'`;
      events.push({
        action: 'vm.user_data_finished',
        message: userData
          ? `User data of VM ${vm.name} exited with ${userData.exitCode}`
          : `User data of VM ${vm.name} reported no outcome`,
        details: { status, exit_code: userData?.exitCode ?? null, output_tail: userData?.outputTail ?? null },
        severity: status === 'failed' ? 'warning' : 'info',
        userId: vm.userId,
        vmId: vm.id,
      });
    }
    // A destroyed VM's snapshots go with it (the provider's destroy removed them from the host).
    const also = op === 'destroy' ? (m: EntityManager) => this.snapshots.removeAllOf(m, vm.id).then(() => undefined) : undefined;
    // The transition and its events (with vm.user_data_finished, when the script reported) in one transaction.
    await this.transitions.applyWithEvents({ id: vm.id, from: job.expect, to: done, set, params, also }, () => events);
    this.logger.log(`VM ${vm.id} ${job.expect} -> ${done}`);
  }

  private async fail(vm: Vm, job: VmOperationJob, err: unknown): Promise<void> {
    if (isSnapshotJob(job)) return this.snapshotOutcomes.fail(vm, job, err, this.hosts.name);
    const pe = err instanceof ProviderError ? err : undefined;
    const message = (err as Error)?.message ?? String(err);
    await this.transitions.apply({ id: vm.id, from: job.expect, to: 'failed', set: FAILED_SET }, () => ({
      action: failedAction(job),
      message: `VM ${vm.name}: ${job.op} failed: ${message}`,
      details: {
        op: job.op,
        from: job.expect,
        error: message,
        output: trimOutput(pe?.output ?? ''),
        timed_out: pe?.timedOut ?? false,
        host: this.hosts.name,
      },
      userId: vm.userId,
      vmId: vm.id,
    }));
    this.logger.warn(`VM ${vm.id} ${job.op} failed: ${message}`);
  }

  /** A job that exhausted its retries (its workers kept dying): the VM must not stay transitional. */
  async abandon(job: VmOperationJob): Promise<void> {
    if (isSnapshotJob(job)) return this.snapshotOutcomes.abandon(job);
    const set = `${FAILED_SET}, locked_by = NULL, locked_until = NULL`;
    await this.transitions.apply({ id: job.vmId, from: job.expect, to: 'failed', set }, (row) => ({
      action: failedAction(job),
      message: `VM ${row.name}: ${job.op} abandoned after repeated worker failures`,
      details: { op: job.op, from: job.expect, error: 'retries exhausted', timed_out: true },
      userId: row.user_id,
      vmId: job.vmId,
    }));
  }
}
