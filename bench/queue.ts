/**
 * The queue case of `npm run bench`: VM creates queued through the API (no worker running), then
 * drained by N dedicated worker processes (`node dist/src/worker.js`) of concurrency C each, with the
 * simulator taking SIMULATOR_DELAY_MS per operation. Ideal: jobs / (N x C) operations back to back,
 * so the ratio measured / ideal shows what the queue itself costs (polling, fetches, round trips).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { envList, envNumber, log, sampleRss, startNode, sql } from './support';

export const queueConfig = {
  /** Worker processes per cell. */
  workers: envList('BENCH_QUEUE_WORKERS', [1, 2]),
  /** WORKER_CONCURRENCY per cell. */
  concurrency: envList('BENCH_QUEUE_CONCURRENCY', [1, 4]),
  /** Simulated provider time per operation (ms). */
  delayMs: envNumber('BENCH_QUEUE_DELAY_MS', 1000),
  /**
   * Jobs per worker slot (N x C slots per cell): 40 at 1 s keeps every cell near 40 s; the target,
   * 1,000 jobs within 1.2x of 1000 / (N x C) s, is the same ratio at a length a bench can afford.
   */
  jobsPerSlot: envNumber('BENCH_QUEUE_JOBS_PER_SLOT', 40),
  timeoutSeconds: envNumber('BENCH_QUEUE_TIMEOUT', 600),
};

export interface QueueResult {
  workers: number;
  concurrency: number;
  delayMs: number;
  jobs: number;
  running: number;
  failed: number;
  timedOut: boolean;
  /** Creating the VMs through the API (jobs queued, no worker running). */
  enqueueSeconds: number;
  /** From spawning the worker processes to the first one consuming. */
  bootSeconds: number;
  /** From the first worker consuming to every VM running (or failed). */
  seconds: number;
  /** jobs x delay / (N x C): every slot busy with provider time only. */
  idealSeconds: number;
  /** seconds / idealSeconds. */
  ratio: number;
  jobsPerSecond: number;
  workerPeakRssMb: (number | null)[];
}

export interface QueueRun {
  dbUrl: string;
  /** The worker processes' environment (the API's, WORKER=true is added here). */
  env: Record<string, string>;
  nodeArgs: string[];
  workerScript: string;
  /** Queues `count` creates through the API; returns the VM ids. */
  createVms(count: number, prefix: string): Promise<string[]>;
}

/** Every cell of the N x C grid, one after another. */
export async function queueGrid(run: QueueRun): Promise<QueueResult[]> {
  const out: QueueResult[] = [];
  for (const workers of queueConfig.workers) {
    for (const concurrency of queueConfig.concurrency) out.push(await queueCell(run, workers, concurrency, out.length));
  }
  return out;
}

async function queueCell(run: QueueRun, workers: number, concurrency: number, round: number): Promise<QueueResult> {
  const { delayMs, jobsPerSlot } = queueConfig;
  const jobs = jobsPerSlot * workers * concurrency;
  log(`queue: ${jobs} creates, then ${workers} worker process(es) x concurrency ${concurrency}, ${delayMs} ms per operation`);
  const t0 = performance.now();
  const ids = await run.createVms(jobs, `q${round}`);
  const enqueueSeconds = (performance.now() - t0) / 1000;
  const env = { ...run.env, WORKER: 'true', WORKER_CONCURRENCY: String(concurrency), SIMULATOR_DELAY_MS: String(delayMs) };
  const spawnedAt = performance.now();
  const procs = Array.from({ length: workers }, (_, i) =>
    startNode(`worker-${workers}x${concurrency}-${i + 1}`, run.workerScript, env, run.nodeArgs),
  );
  const peaks = procs.map((p) => sampleRss(p.proc.pid));
  try {
    const ready = await Promise.all(procs.map((p) => p.waitForLine(/Worker of host \S+ consuming/, 60_000)));
    const start = Math.min(...ready);
    const deadline = Date.now() + queueConfig.timeoutSeconds * 1000;
    let running = 0;
    let failed = 0;
    for (;;) {
      const [row] = await sql<{ running: number; failed: number }>(
        run.dbUrl,
        `SELECT count(*) FILTER (WHERE status = 'running')::int AS running, count(*) FILTER (WHERE status = 'failed')::int AS failed
           FROM vms WHERE id = ANY($1::uuid[])`,
        [ids],
      );
      ({ running, failed } = row!);
      if (running + failed >= ids.length || Date.now() > deadline) break;
      await sleep(100);
    }
    const seconds = (performance.now() - start) / 1000;
    const idealSeconds = (jobs * delayMs) / 1000 / (workers * concurrency);
    return {
      workers,
      concurrency,
      delayMs,
      jobs,
      running,
      failed,
      timedOut: running + failed < ids.length,
      enqueueSeconds,
      bootSeconds: (start - spawnedAt) / 1000,
      seconds,
      idealSeconds,
      ratio: idealSeconds > 0 ? seconds / idealSeconds : NaN,
      jobsPerSecond: ids.length / seconds,
      workerPeakRssMb: peaks.map((stop) => stop()),
    };
  } finally {
    peaks.forEach((stop) => stop());
    await Promise.all(procs.map((p) => p.stop()));
  }
}
