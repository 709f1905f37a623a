import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { expectProcessesSurvived, expectVmsSettled } from '../support/settled';
import { eventually } from '../support/factories';
import { startProxy, startReplicatedPostgres, type ReplicatedPostgres, type SwitchingProxy } from '../support/failover';
import { ensureBuilt, registerUser, ServiceProcess, startApiAndWorker } from '../support/processes';

const spec = { os_type: 'debian-12', ram_mb: 512, disk_gb: 10, cpu_cores: 1 };
/** Parallel create lanes, each pausing between its requests: a bounded burst. */
const LANES = 4;
const LANE_PAUSE_MS = 100;
const MAX_CREATES = 500;
/** How long the one address points at the standby while it is still read-only. */
const READ_ONLY_MS = 2_500;
/** Writes must resume this soon after the promotion (generous: a loaded 2-core machine). */
const RESUME_BOUND_MS = 15_000;

interface Attempt {
  key: string;
  name: string;
  status: number;
  body: any;
  contentType: string | null;
  retryAfter: string | null;
  started: number;
  ended: number;
}

async function create(base: string, token: string, key: string, name: string): Promise<Attempt> {
  const started = Date.now();
  const res = await fetch(`${base}/api/vms`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'idempotency-key': key },
    body: JSON.stringify({ name, ...spec }),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return {
    key,
    name,
    status: res.status,
    body,
    contentType: res.headers.get('content-type'),
    retryAfter: res.headers.get('retry-after'),
    started,
    ended: Date.now(),
  };
}

/**
 * A streaming standby promoted while the service runs, with real processes: an API that also runs a
 * worker and a separate worker process reach PostgreSQL through one address (a TCP proxy) that the
 * test switches. In the middle of a create burst (every create with an Idempotency-Key): the primary
 * stops, the address points at the standby while it is still read-only, the standby is promoted.
 */
describe('database failover to a promoted standby (real processes)', () => {
  let pg: ReplicatedPostgres;
  let proxy: SwitchingProxy;
  let stateDir: string;
  const services: ServiceProcess[] = [];

  beforeAll(async () => {
    ensureBuilt();
    pg = await startReplicatedPostgres();
    proxy = await startProxy(pg.primary.port);
    stateDir = await mkdtemp(join(tmpdir(), 'vmapi-sim-'));
  }, 180_000);

  afterAll(async () => {
    for (const s of services) await s.kill();
    await proxy?.close();
    await pg?.destroy();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('answers 503 with Retry-After during the switch, resumes writes within seconds, and loses nothing acknowledged', async () => {
    const env = {
      DATABASE_URL: `postgres://postgres@127.0.0.1:${proxy.port}/vmapi`,
      SIMULATOR_DELAY_MS: 300,
      SIMULATOR_STATE_DIR: stateDir,
      INITIAL_CREDITS: 1_000_000,
      QUOTA_MAX_VMS: 0,
      QUOTA_MAX_CPU_CORES: 0,
      QUOTA_MAX_RAM_MB: 0,
      TIMEOUT_UP_SECONDS: 60,
      RECONCILE_MINUTES: 0,
      METRICS_COLLECT_MINUTES: 0,
    };
    const { apiProcess } = await startApiAndWorker(env, services);
    const user = await registerUser(apiProcess, 'failover');

    // The burst: LANES creates in flight at a time until told to stop (or MAX_CREATES).
    const attempts: Attempt[] = [];
    let sent = 0;
    let stop = false;
    const lane = async (): Promise<void> => {
      while (!stop && sent < MAX_CREATES) {
        const n = sent++;
        attempts.push(await create(apiProcess.url, user.token, `failover-key-${n}`, `fo-${n}`));
        await sleep(LANE_PAUSE_MS);
      }
    };
    const burst = Promise.all(Array.from({ length: LANES }, lane));
    const accepted = () => attempts.filter((a) => a.status === 202);

    try {
      // Jobs are being worked on when the primary goes away.
      const primaryDb = new Client({ connectionString: pg.primary.url() });
      await primaryDb.connect();
      await eventually(async () => accepted().length >= 20, 30_000, '20 creates accepted');
      await eventually(
        async () => (await primaryDb.query(`SELECT count(*)::int AS n FROM vms WHERE locked_by IS NOT NULL`)).rows[0].n > 0,
        20_000,
        'jobs in flight',
      );
      await primaryDb.end();

      // The primary dies; the address follows to the standby before it is promoted (read-only for a while).
      const failedAt = Date.now();
      await pg.primary.stop('immediate');
      proxy.switchTo(pg.standby.port);
      const dropped = proxy.dropConnections();
      await sleep(READ_ONLY_MS);
      const promoteFrom = Date.now();
      await pg.standby.promote();
      const promotedAt = Date.now();

      // Writes resume: the first create sent after the promotion that is accepted.
      await eventually(
        async () => attempts.some((a) => a.started >= promotedAt && a.status === 202),
        RESUME_BOUND_MS + 15_000,
        'a create accepted after the promotion',
      );
      const firstAfter = Math.min(...attempts.filter((a) => a.started >= promotedAt && a.status === 202).map((a) => a.ended));
      const resumeMs = firstAfter - promotedAt;
      // A few more seconds of creates on the new primary, then the burst ends.
      await sleep(3_000);
      stop = true;
      await burst;

      // During the switch: 503 service.unavailable problems with Retry-After, never a 500.
      const byStatus = new Map<number, number>();
      for (const a of attempts) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
      const refused = attempts.filter((a) => a.status !== 202);
      const during = refused.filter((a) => a.ended >= failedAt);
      expect([...byStatus.keys()].filter((s) => s !== 202 && s !== 503)).toEqual([]);
      for (const a of refused) {
        expect(a.body.code).toBe('service.unavailable');
        expect(a.contentType).toMatch(/^application\/problem\+json/);
        expect(Number(a.retryAfter)).toBeGreaterThan(0);
      }
      expect(during.length).toBe(refused.length);
      // The read-only standby was reached and its refusal (SQLSTATE 25006) answered as unavailable.
      expect(apiProcess.lines.some((l) => /Database unavailable .*read-only transaction/.test(l))).toBe(true);
      expect(resumeMs).toBeLessThan(RESUME_BOUND_MS);

      // Every key again, as a client would retry: refused ones now succeed, acknowledged ones replay the same VM.
      const retried = new Map<string, Attempt>();
      for (let i = 0; i < attempts.length; i += LANES) {
        for (const r of await Promise.all(attempts.slice(i, i + LANES).map((a) => create(apiProcess.url, user.token, a.key, a.name))))
          retried.set(r.key, r);
      }
      expect([...retried.values()].filter((r) => r.status !== 202).map((r) => `${r.status} ${r.body.code}`)).toEqual([]);
      for (const a of accepted()) expect(retried.get(a.key)!.body.id).toBe(a.body.id);
      const ids = new Set([...retried.values()].map((r) => r.body.id));
      expect(ids.size).toBe(attempts.length);

      const db = new Client({ connectionString: pg.standby.url() });
      await db.connect();
      try {
        // Nothing acknowledged was lost: each VM once, charged once; the balance equals the ledger; no key stuck.
        const { rows: vms } = await db.query(`SELECT id FROM vms WHERE user_id = $1`, [user.id]);
        expect(vms.map((v) => v.id).sort()).toEqual([...ids].sort());
        const { rows: charges } = await db.query(
          `SELECT vm_id, count(*)::int AS n FROM credit_transactions WHERE user_id = $1 AND kind = 'vm_create' GROUP BY vm_id`,
          [user.id],
        );
        expect(charges.length).toBe(ids.size);
        expect(charges.filter((c) => c.n !== 1 || !ids.has(c.vm_id))).toEqual([]);
        const [{ credits, ledger }] = (
          await db.query(
            `SELECT u.credits, (SELECT sum(amount)::int FROM credit_transactions WHERE user_id = u.id) AS ledger FROM users u WHERE id = $1`,
            [user.id],
          )
        ).rows;
        expect(ledger).toBe(credits);
        const [{ stuck, keys }] = (
          await db.query(
            `SELECT count(*) FILTER (WHERE response_status IS NULL)::int AS stuck, count(*)::int AS keys FROM idempotency_keys WHERE user_id = $1`,
            [user.id],
          )
        ).rows;
        expect(stuck).toBe(0);
        expect(keys).toBe(attempts.length);

        // No job stuck: every VM reaches running, each provisioned once, and the queue drains.
        await expectVmsSettled(db, ids.size, { userId: user.id, drainQueues: true });
      } finally {
        await db.end();
      }

      // Both processes lived through it.
      await expectProcessesSurvived(apiProcess, services);
      console.log(
        `failover: primary stopped, ${dropped} proxied connections dropped, standby read-only behind the address for ${((promoteFrom - failedAt) / 1000).toFixed(1)} s, ` +
          `promotion took ${((promotedAt - promoteFrom) / 1000).toFixed(1)} s; first create accepted ${(resumeMs / 1000).toFixed(2)} s after it. ` +
          `${attempts.length} creates sent: ${accepted().length} accepted, ${refused.length} answered 503 (Retry-After ${refused[0]?.retryAfter}); ` +
          `after retrying every key: ${ids.size} VMs, each charged once, all running, 0 keys stuck, 0 lost`,
      );
    } finally {
      stop = true;
      await burst;
    }
  }, 240_000);
});
