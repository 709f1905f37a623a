/**
 * Load generator, forked by bench/run.ts so that autocannon never shares a process (or an event
 * loop) with the service it measures. Receives one LoadJob over IPC, answers with one LoadResult.
 */
import autocannon from 'autocannon';

export interface LoadTarget {
  path: string;
  token?: string;
  /** JSON body; `{{n}}` is replaced by a counter unique within the run (for unique VM names). */
  body?: string;
}

export interface LoadJob {
  url: string;
  method: 'GET' | 'POST';
  connections: number;
  durationSeconds: number;
  warmupSeconds: number;
  /** Rotated request by request, over all connections. */
  targets: LoadTarget[];
  /** Targets already used by earlier slices of the same case: rotation and `{{n}}` continue from here. */
  offset?: number;
  /** Return every response time (ms), so slices of one case can be merged exactly. */
  recordLatencies?: boolean;
}

export interface LoadResult {
  requests: number;
  rps: number;
  latency: { p50: number; p99: number };
  /** Connection errors, timeouts and non-2xx answers. */
  errors: number;
  statusCodes: Record<string, number>;
  durationSeconds: number;
  /** Targets handed out, warm-up included (the action case needs as many distinct VMs). */
  targetsUsed: number;
  /** Response times in ms (recordLatencies; without a warm-up, so every one was measured). */
  latencies?: number[];
}

async function run(job: LoadJob): Promise<LoadResult> {
  const offset = job.offset ?? 0;
  let next = offset;
  let counter = offset;
  const setupRequest = (req: autocannon.Request) => {
    const t = job.targets[next++ % job.targets.length];
    const headers: Record<string, string> = {};
    if (t!.token) headers.authorization = `Bearer ${t!.token}`;
    if (t!.body !== undefined) headers['content-type'] = 'application/json';
    return {
      ...req,
      method: job.method,
      path: t!.path,
      headers,
      body: t!.body?.includes('{{n}}') ? t!.body.replace(/\{\{n\}\}/g, String(counter++)) : t!.body,
    };
  };
  // The promise form: autocannon runs `warmup` only when no callback is given.
  const instance = autocannon({
    url: job.url,
    connections: job.connections,
    duration: job.durationSeconds,
    warmup: job.warmupSeconds > 0 ? { connections: job.connections, duration: job.warmupSeconds } : undefined,
    requests: [{ setupRequest }],
    timeout: 30,
  } as autocannon.Options) as unknown as autocannon.Instance & PromiseLike<autocannon.Result>;
  const latencies: number[] = [];
  if (job.recordLatencies) {
    if (job.warmupSeconds > 0) throw new Error('recordLatencies needs a job without warm-up');
    instance.on('response', (_client, _status, _bytes, ms) => latencies.push(ms));
  }
  const r = await instance;
  const codes: Record<string, number> = {};
  for (const [code, v] of Object.entries(r.statusCodeStats ?? {})) codes[code] = (v as { count: number }).count;
  return {
    requests: r.requests.total,
    rps: r.requests.total / r.duration,
    latency: { p50: r.latency.p50, p99: r.latency.p99 },
    errors: r.errors + r.timeouts + r.non2xx,
    statusCodes: codes,
    durationSeconds: r.duration,
    targetsUsed: next - offset,
    latencies: job.recordLatencies ? latencies : undefined,
  };
}

process.once('message', (job: LoadJob) => {
  run(job).then(
    (result) => process.send!({ ok: true, result }, () => process.exit(0)),
    (err: Error) => process.send!({ ok: false, error: err.stack ?? String(err) }, () => process.exit(1)),
  );
});
