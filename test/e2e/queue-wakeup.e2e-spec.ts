import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { QueueService } from '../../src/queue/queue.service';
import { eventually, newUser, TestUser } from '../support/factories';
import { createTestApp, createTestDatabase, TestContext, TestDatabase, TEST_VM_QUEUE } from '../support/test-app';

const spec = { os_type: 'debian-12', ram_mb: 512, disk_gb: 10, cpu_cores: 1 };

/**
 * A worker polls its queues only as a safety net (every QUEUE_POLL_SECONDS, 30, for the first of a
 * queue's workers): a job sent through the queue wakes them with a NOTIFY. With a worker process per
 * hypervisor host, per-second polling was the load one PostgreSQL gave out on first (bench:fleet).
 */
describe('queue: workers woken by NOTIFY, polling only as a safety net (e2e, an API and a worker on one database)', () => {
  let database: TestDatabase;
  let api: TestContext;
  let worker: TestContext;
  let alice: TestUser;

  beforeAll(async () => {
    database = await createTestDatabase();
    api = await createTestApp({ database, env: { WORKER: false } });
    worker = await createTestApp({ database, env: { WORKER: true, WORKER_CONCURRENCY: 4 } });
    alice = await newUser(api, { credits: 1000 });
  });
  afterAll(async () => {
    await worker.close();
    await api.close();
    await database.drop();
  });

  it('an idle worker with four consumers on its host queue fetches from it at most once in five seconds (one of them polls)', async () => {
    const queue = worker.app.get(QueueService);
    const calls = jest.spyOn(queue as unknown as { executeSql: (text: string, values?: unknown[]) => Promise<unknown> }, 'executeSql');
    try {
      await new Promise((resolve) => setTimeout(resolve, 5000));
      const fetches = calls.mock.calls.filter(([text, values]) => /SKIP LOCKED/i.test(text) && (values ?? []).includes(TEST_VM_QUEUE));
      // Polling every second (the old setting) made about 20 here.
      expect(fetches.length).toBeLessThanOrEqual(1);
    } finally {
      calls.mockRestore();
    }
  });

  it('a job that failed is retried when its delay is over, not at the next poll', async () => {
    const queue = worker.app.get(QueueService);
    const name = 'test-retry-wake';
    await queue.ensureQueue(name, { retryLimit: 2, retryDelay: 1, retryBackoff: true });
    const attempts: number[] = [];
    await queue.work<{ n: number }>(name, { batchSize: 1 }, () => {
      attempts.push(Date.now());
      if (attempts.length === 1) throw new Error('first attempt fails');
      return Promise.resolve();
    });
    await worker.db.transaction((m) => queue.send(m, name, { n: 1 }));
    await eventually(() => Promise.resolve(attempts.length >= 2), 15_000, 'the retry');
    // pg-boss makes it available 1-2 s after the failure (backoff with jitter); the poll is 30 s away.
    expect(attempts[1]! - attempts[0]!).toBeLessThan(4000);
  });

  it('a VM created through an API that runs no worker starts on its host at once, long before the next poll', async () => {
    const sent = Date.now();
    const id = (
      await api.http
        .post('/api/vms')
        .set(alice.auth)
        .send({ name: 'woken', ...spec })
        .expect(202)
    ).body.id as string;
    await eventually(
      async () => (await api.db.query(`SELECT status FROM vms WHERE id = $1`, [id]))[0]?.status === 'running',
      15_000,
      'running',
    );
    expect(Date.now() - sent).toBeLessThan(3000);
  });
});
