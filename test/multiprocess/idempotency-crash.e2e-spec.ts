import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { ensureBuilt, ready, registerUser, ServiceProcess, startService } from '../support/processes';
import { createTestDatabase, TestDatabase } from '../support/test-app';

const spec = { os_type: 'debian-12', ram_mb: 512, disk_gb: 10, cpu_cores: 1 }; // costs 17
const CREDITS = 100_000;
const CREATES = 240;
const CONCURRENCY = 48;
/** The API is killed once this many creates have been answered: the rest are in flight or not sent yet. */
const KILL_AFTER = 80;

interface Answer {
  status: number;
  body: { id?: string; code?: string };
  replayed: boolean;
}

async function create(base: string, token: string, key: string, name: string): Promise<Answer> {
  const res = await fetch(`${base}/api/vms`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'idempotency-key': key },
    body: JSON.stringify({ name, ...spec }),
  });
  return { status: res.status, body: (await res.json()) as Answer['body'], replayed: res.headers.get('idempotent-replayed') === 'true' };
}

/** A client's retry: again while the server answers 503 (busy), up to a deadline. */
async function retry(base: string, token: string, key: string, name: string): Promise<Answer> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const answer = await create(base, token, key, name);
    if (answer.status !== 503 || Date.now() > deadline) return answer;
  }
}

/** Runs `fn` over `items`, `lanes` at a time, keeping the order of results. */
async function inLanes<T, R>(items: T[], lanes: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]!);
      }
    }),
  );
  return results;
}

/**
 * kill -9 of an API process in the middle of a burst of idempotent creates, then a restart and a retry
 * of every key: no key may stay stuck, each create happens at most once, and the ledger agrees.
 */
describe('Idempotency-Key across a crash (kill -9 of a real API process)', () => {
  let database: TestDatabase;
  let api: ServiceProcess | undefined;
  // The API runs the worker of its own roomy host (creates are placed on a host); the same host after the restart.
  const env = () => ({
    DATABASE_URL: database.url,
    WORKER: true,
    HOST_NAME: 'crash-host',
    HOST_CPU_CORES: 100_000,
    HOST_RAM_MB: 100_000_000,
    HOST_DISK_GB: 10_000_000,
    INITIAL_CREDITS: CREDITS,
    QUOTA_MAX_VMS: 0,
    QUOTA_MAX_CPU_CORES: 0,
    QUOTA_MAX_RAM_MB: 0,
  });

  beforeAll(async () => {
    ensureBuilt();
    database = await createTestDatabase();
  }, 300_000);
  afterAll(async () => {
    await api?.kill();
    await database?.drop();
  });

  it('answers every retried key after the crash with the original VM or a single new create', async () => {
    api = await startService('api-1', 'api', env());
    await ready(api, 'api');
    const user = await registerUser(api, 'crashy');

    // The burst: CONCURRENCY creates in flight at a time, each with its own key; kill -9 mid-way.
    const keys = Array.from({ length: CREATES }, (_, i) => ({ key: randomUUID(), name: `vm-${i}` }));
    const first = new Map<string, Answer | 'no answer'>();
    let next = 0;
    let answered = 0;
    const first1 = api;
    let dead = false;
    const lane = async (): Promise<void> => {
      while (next < keys.length && !dead) {
        const { key, name } = keys[next++]!;
        try {
          first.set(key, await create(first1.url, user.token, key, name));
          if (++answered === KILL_AFTER) {
            dead = true;
            first1.child.kill('SIGKILL');
          }
        } catch {
          first.set(key, 'no answer'); // in flight when the process died
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, lane));
    await first1.exited;
    const sent = first.size;
    const unanswered = [...first.values()].filter((a) => a === 'no answer').length;
    expect(unanswered).toBeGreaterThan(0);

    // Restart and retry every key right away, as many at a time as in the burst.
    api = await startService('api-2', 'api', env());
    await ready(api, 'api');
    const api2 = api;
    const retried = await inLanes(keys, CONCURRENCY, async ({ key, name }) => ({
      key,
      name,
      answer: await retry(api2.url, user.token, key, name),
    }));
    const outcomes = { replayed: 0, created: 0, other: [] as string[] };
    for (const { key, answer } of retried) {
      const original = first.get(key);
      if (answer.status !== 202) {
        outcomes.other.push(`${answer.status} ${answer.body.code}`);
        continue;
      }
      if (answer.replayed) outcomes.replayed++;
      else outcomes.created++;
      // A create whose answer the client saw is replayed with that same VM, never done again.
      if (original && original !== 'no answer' && original.status === 202) {
        expect(answer.replayed).toBe(true);
        expect(answer.body.id).toBe(original.body.id);
      }
    }
    console.log(
      `kill -9 after ${KILL_AFTER} answers: ${sent} creates sent, ${unanswered} in flight (no answer); after restart ${keys.length} keys retried: ` +
        `${outcomes.replayed} replayed, ${outcomes.created} created now, ${outcomes.other.length} other (${outcomes.other.join(', ')})`,
    );
    expect(outcomes.other).toEqual([]);

    // A second retry replays every one: each key is bound to exactly one VM.
    const again = await inLanes(keys, CONCURRENCY, ({ key, name }) => retry(api2.url, user.token, key, name));
    expect(again.every((a) => a.status === 202 && a.replayed)).toBe(true);
    expect(new Set(again.map((a) => a.body.id)).size).toBe(keys.length);
    expect(again.map((a) => a.body.id).sort()).toEqual(retried.map((r) => r.answer.body.id).sort());

    // One VM per key, one charge per VM, and the balance equals the ledger.
    const db = new Client({ connectionString: database.url });
    await db.connect();
    try {
      const [{ vms }] = (await db.query(`SELECT count(*)::int AS vms FROM vms WHERE user_id = $1`, [user.id])).rows;
      const [{ charges }] = (
        await db.query(`SELECT count(*)::int AS charges FROM credit_transactions WHERE user_id = $1 AND kind = 'vm_create'`, [user.id])
      ).rows;
      const [{ credits, ledger }] = (
        await db.query(
          `SELECT u.credits, (SELECT sum(amount)::int FROM credit_transactions WHERE user_id = u.id) AS ledger FROM users u WHERE id = $1`,
          [user.id],
        )
      ).rows;
      const [{ unanswered: stuck }] = (
        await db.query(`SELECT count(*)::int AS unanswered FROM idempotency_keys WHERE response_status IS NULL`)
      ).rows;
      expect(vms).toBe(keys.length);
      expect(charges).toBe(keys.length);
      expect(credits).toBe(CREDITS - 17 * keys.length);
      expect(ledger).toBe(credits);
      expect(stuck).toBe(0);
    } finally {
      await db.end();
    }
  }, 300_000);
});
