import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { api, ensureBuilt, ready, ServiceProcess, startService, startTestPostgres, TestPostgres } from '../support/processes';

const RUNS = 3;

async function admin(url: string, sql: string): Promise<void> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/**
 * What `docker compose up` does: several processes (APIs and workers) boot at the same moment on one
 * database, fresh or not, with a bootstrap admin configured. All must come up.
 */
describe('processes booting together (real processes)', () => {
  let stateDir: string;
  let pg: TestPostgres;

  beforeAll(async () => {
    ensureBuilt();
    stateDir = await mkdtemp(join(tmpdir(), 'vmapi-sim-'));
    // Its own server: fresh databases on it, out of reach of other test runs' cleanup.
    pg = await startTestPostgres();
  }, 180_000);

  afterAll(async () => {
    await pg?.destroy();
    await rm(stateDir, { recursive: true, force: true });
  });

  it(`brings up 2 APIs and 2 workers started at once, ${RUNS} times on a fresh database and once on an existing one`, async () => {
    for (let run = 1; run <= RUNS; run++) {
      const url = new URL(pg.url);
      url.pathname = `/race_${run}`;
      await admin(pg.url, `CREATE DATABASE race_${run}`);
      const env = {
        DATABASE_URL: url.toString(),
        ADMIN_EMAIL: 'root@example.test',
        ADMIN_PASSWORD: 'bootstrap-admin-password',
        SIMULATOR_STATE_DIR: stateDir,
        DB_POOL_SIZE: 3,
      };
      try {
        // A fresh database; on the last run, the same one again (existing schema, existing admin).
        for (const phase of run === RUNS ? ['fresh', 'existing'] : ['fresh']) {
          const services: ServiceProcess[] = [];
          try {
            const kinds = ['api', 'worker', 'api', 'worker'] as const;
            services.push(...(await Promise.all(kinds.map((kind, i) => startService(`${phase}-${kind}-${i}`, kind, env)))));
            await Promise.all(services.map((s, i) => ready(s, kinds[i]!, 90_000)));
            for (const [i, s] of services.entries()) {
              expect(s.alive()).toBe(true);
              if (kinds[i] === 'api') expect((await api(s, 'GET', '/api/health')).status).toBe(200);
            }
            const login = await api(services[0]!, 'POST', '/api/auth/login', {
              email: 'root@example.test',
              password: 'bootstrap-admin-password',
            });
            expect(login.status).toBe(200);
          } finally {
            for (const s of services) await s.kill();
          }
        }
        const c = new Client({ connectionString: url.toString() });
        await c.connect();
        try {
          const { rows } = await c.query(`SELECT role, count(*)::int AS n FROM users GROUP BY role`);
          expect(rows).toEqual([{ role: 'admin', n: 1 }]);
          const { rows: events } = await c.query(`SELECT count(*)::int AS n FROM events WHERE action = 'admin.bootstrap'`);
          expect(events[0].n).toBe(1);
        } finally {
          await c.end();
        }
      } finally {
        await admin(pg.url, `DROP DATABASE IF EXISTS race_${run} WITH (FORCE)`);
      }
    }
  }, 600_000);
});
