import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MetricsJobs } from '../../src/modules/metrics/metrics.jobs';
import { MetricsRepository } from '../../src/modules/metrics/metrics.repository';
import { hostQueue } from '../../src/queue/host';
import { PeriodicService } from '../../src/queue/periodic.service';
import { QueueService } from '../../src/queue/queue.service';
import { eventually, newUser, TestUser } from '../support/factories';
import { createTestApp, createTestDatabase, TestContext, TEST_HOST } from '../support/test-app';

const spec = { os_type: 'debian-12', ram_mb: 1024, disk_gb: 20, cpu_cores: 2 };
const HOUR = 3600_000;

describe('VM metrics (e2e)', () => {
  let ctx: TestContext;
  let alice: TestUser;
  let vmId: string;

  beforeAll(async () => {
    // The tests run the jobs themselves: no scheduled run may race them.
    ctx = await createTestApp({ env: { METRICS_COLLECT_MINUTES: 0, METRICS_PRUNE_MINUTES: 0 } });
    alice = await newUser(ctx, { credits: 1000 });
    vmId = (
      await ctx.http
        .post('/api/vms')
        .set(alice.auth)
        .send({ name: 'metered', ...spec })
        .expect(202)
    ).body.id;
    await eventually(async () => (await ctx.http.get(`/api/vms/${vmId}`).set(alice.auth)).body.status === 'running', 10_000, 'VM running');
  });
  afterAll(async () => {
    await ctx.close();
  });

  const post = (body: unknown, user: TestUser = alice, id = vmId) =>
    ctx.http
      .post(`/api/vms/${id}/metrics`)
      .set(user.auth)
      .send(body as object);
  const series = (query: string, user: TestUser = alice, id = vmId) => ctx.http.get(`/api/vms/${id}/metrics?${query}`).set(user.auth);

  describe('ingestion', () => {
    it('stores known and namespaced points, filling in units and timestamps', async () => {
      const at = new Date(Date.now() - 60_000).toISOString();
      const res = await post({
        points: [
          { name: 'cpu_percent', value: 37.5, recorded_at: at },
          { name: 'memory_used_mb', value: 512, unit: 'MB', recorded_at: at },
          { name: 'app.queue_length', value: -2, unit: 'jobs', recorded_at: at },
          { name: 'nginx.http.active', value: 3 },
        ],
      }).expect(201);
      expect(res.body).toEqual({ accepted: 4 });
      const rows = await ctx.db.query(`SELECT name, value, unit FROM metrics WHERE vm_id = $1 ORDER BY name`, [vmId]);
      expect(rows).toEqual([
        { name: 'app.queue_length', value: -2, unit: 'jobs' },
        { name: 'cpu_percent', value: 37.5, unit: '%' },
        { name: 'memory_used_mb', value: 512, unit: 'MB' },
        { name: 'nginx.http.active', value: 3, unit: null },
      ]);
    });

    it.each([
      ['an unknown, unnamespaced name', { name: 'cpu', value: 1 }, 'points.0.name'],
      ['an upper-case name', { name: 'App.Requests', value: 1 }, 'points.0.name'],
      ['a string value', { name: 'cpu_percent', value: '12' }, 'points.0.value'],
      ['a null value', { name: 'cpu_percent', value: null }, 'points.0.value'],
      ['a missing value', { name: 'cpu_percent' }, 'points.0.value'],
      ['an unknown field', { name: 'cpu_percent', value: 1, host: 'x' }, 'points.0.host'],
      ['a date without a time zone', { name: 'cpu_percent', value: 1, recorded_at: '2026-11-25T10:00:00' }, 'points.0.recorded_at'],
      ['a date that is not ISO 8601', { name: 'cpu_percent', value: 1, recorded_at: '25/11/2026 10:00' }, 'points.0.recorded_at'],
      ['a date as a number', { name: 'cpu_percent', value: 1, recorded_at: 1764064800000 }, 'points.0.recorded_at'],
      ['a bad unit', { name: 'app.x', value: 1, unit: '<script>' }, 'points.0.unit'],
    ])('answers 400 for %s, naming the field', async (_what, point, field) => {
      const res = await post({ points: [point] }).expect(400);
      expect(res.body.code).toBe('request.validation');
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    });

    it('answers 400 for a non-finite value (1e999 parses to Infinity)', async () => {
      const res = await ctx.http
        .post(`/api/vms/${vmId}/metrics`)
        .set(alice.auth)
        .set('content-type', 'application/json')
        .send('{"points":[{"name":"cpu_percent","value":1e999}]}')
        .expect(400);
      expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(['points.0.value']);
    });

    it('answers 400 for an empty batch, a batch over 1000 points, or no points array', async () => {
      await post({ points: [] }).expect(400);
      const many = Array.from({ length: 1001 }, (_, i) => ({ name: 'app.n', value: i }));
      const res = await post({ points: many }).expect(400);
      expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(['points']);
      expect(res.body.detail).toMatch(/1000/);
      await post([{ name: 'cpu_percent', value: 1 }]).expect(400);
      // Exactly 1000 is fine.
      await post({ points: many.slice(0, 1000) }).expect(201);
    });

    it('rejects the whole batch, listing every point that breaks the clock, unit or range rules', async () => {
      const before = await ctx.db.query(`SELECT count(*)::int AS n FROM metrics WHERE vm_id = $1`, [vmId]);
      const res = await post({
        points: [
          { name: 'cpu_percent', value: 10 },
          { name: 'cpu_percent', value: 10, recorded_at: new Date(Date.now() + 5 * 60_000).toISOString() },
          { name: 'cpu_percent', value: 10, recorded_at: new Date(Date.now() - 31 * 24 * HOUR).toISOString() },
          { name: 'cpu_percent', value: 140 },
          { name: 'disk_used_gb', value: 3, unit: 'MB' },
        ],
      }).expect(400);
      expect(res.body.code).toBe('metrics.invalid_points');
      expect(res.body.errors).toEqual([
        { field: 'points.1.recorded_at', messages: [expect.stringMatching(/future/)] },
        { field: 'points.2.recorded_at', messages: [expect.stringMatching(/retention/)] },
        { field: 'points.3.value', messages: [expect.stringMatching(/between 0 and 100/)] },
        { field: 'points.4.unit', messages: [expect.stringMatching(/measured in GB/)] },
      ]);
      const after = await ctx.db.query(`SELECT count(*)::int AS n FROM metrics WHERE vm_id = $1`, [vmId]);
      expect(after).toEqual(before);
    });

    it('accepts a recorded_at slightly ahead of the server clock (skew)', async () => {
      await post({ points: [{ name: 'app.skew', value: 1, recorded_at: new Date(Date.now() + 20_000).toISOString() }] }).expect(201);
    });

    it('lets the owner and admins in, answers 404 to anyone else and 401 without a token', async () => {
      const mallory = await newUser(ctx);
      const admin = await newUser(ctx, { role: 'admin' });
      const point = { points: [{ name: 'app.visits', value: 1 }] };
      const denied = await post(point, mallory).expect(404);
      expect(denied.body.code).toBe('vm.not_found');
      await series('name=app.visits', mallory).expect(404);
      await post(point, admin).expect(201);
      const read = await series('name=app.visits', admin).expect(200);
      expect(read.body.points).toHaveLength(1);
      await ctx.http.post(`/api/vms/${vmId}/metrics`).send(point).expect(401);
      await ctx.http.get(`/api/vms/${vmId}/metrics?name=app.visits`).expect(401);
      await post(point, alice, 'not-a-uuid').expect(400);
      await post(point, alice, '00000000-0000-4000-8000-000000000000').expect(404);
    });

    it('answers 409 for a destroyed VM, whose history stays readable', async () => {
      const gone = (
        await ctx.http
          .post('/api/vms')
          .set(alice.auth)
          .send({ name: 'gone', ...spec })
          .expect(202)
      ).body.id as string;
      await post({ points: [{ name: 'app.last', value: 7 }] }, alice, gone).expect(201);
      await ctx.db.query(`UPDATE vms SET status = 'destroyed', destroyed_at = now() WHERE id = $1`, [gone]);
      const res = await post({ points: [{ name: 'app.last', value: 8 }] }, alice, gone).expect(409);
      expect(res.body.code).toBe('metrics.vm_destroyed');
      const read = await series('name=app.last', alice, gone).expect(200);
      expect(read.body.points.map((p: { max: number }) => p.max)).toEqual([7]);
    });
  });

  describe('downsampled series', () => {
    // 10 minutes of 10-second points (values 0..59), starting on an hour boundary two hours ago.
    const base = Math.floor((Date.now() - 2 * HOUR) / HOUR) * HOUR;
    const iso = (ms: number) => new Date(ms).toISOString();

    beforeAll(async () => {
      const points = Array.from({ length: 60 }, (_, i) => ({
        name: 'app.known',
        value: i,
        unit: 'u',
        recorded_at: iso(base + i * 10_000),
      }));
      await post({ points }).expect(201);
    });

    it('averages, and takes min, max and count, per bucket of `step` seconds', async () => {
      const res = await series(`name=app.known&from=${iso(base)}&to=${iso(base + 600_000)}&step=60`).expect(200);
      expect(res.body).toMatchObject({ vm_id: vmId, name: 'app.known', unit: 'u', step: 60, from: iso(base), to: iso(base + 600_000) });
      expect(res.body.points).toEqual(
        Array.from({ length: 10 }, (_, b) => ({ t: iso(base + b * 60_000), avg: b * 6 + 2.5, min: b * 6, max: b * 6 + 5, count: 6 })),
      );
    });

    it('aligns buckets to the epoch, with `from` inclusive and `to` exclusive', async () => {
      // 150 s buckets from base + 30 s: the first bucket [base, base+150) holds points 3..14.
      const res = await series(`name=app.known&from=${iso(base + 30_000)}&to=${iso(base + 300_000)}&step=150`).expect(200);
      expect(res.body.points).toEqual([
        { t: iso(base), avg: 8.5, min: 3, max: 14, count: 12 },
        { t: iso(base + 150_000), avg: 22, min: 15, max: 29, count: 15 },
      ]);
    });

    it('keeps one bucket per point at a 1-second step, and one bucket for the lot at a 1-hour step', async () => {
      const fine = await series(`name=app.known&from=${iso(base)}&to=${iso(base + HOUR)}&step=1`).expect(200);
      expect(fine.body.points).toHaveLength(60);
      expect(fine.body.points[59]).toEqual({ t: iso(base + 590_000), avg: 59, min: 59, max: 59, count: 1 });
      const coarse = await series(`name=app.known&from=${iso(base)}&to=${iso(base + HOUR)}&step=3600`).expect(200);
      expect(coarse.body.points).toEqual([{ t: iso(base), avg: 29.5, min: 0, max: 59, count: 60 }]);
    });

    it('never answers more than 1000 points: a too-small step is raised, and the answer says so', async () => {
      const from = iso(Date.now() - 30 * 24 * HOUR);
      const res = await series(`name=app.known&from=${from}&step=1`).expect(200);
      expect(res.body.step).toBe(3600);
      expect(res.body.points.length).toBeLessThanOrEqual(1000);
      const all = res.body.points.reduce((n: number, p: { count: number }) => n + p.count, 0);
      expect(all).toBe(60);
    });

    it('defaults to the last 24 hours at a step that fits', async () => {
      const res = await series('name=app.known').expect(200);
      expect(res.body.step).toBe(120);
      expect(Date.parse(res.body.to) - Date.parse(res.body.from)).toBe(24 * HOUR);
      expect(res.body.points.reduce((n: number, p: { count: number }) => n + p.count, 0)).toBe(60);
    });

    it('answers an empty series for a name with no points, and 400 for bad queries', async () => {
      const empty = await series('name=app.nothing').expect(200);
      expect(empty.body).toMatchObject({ points: [], unit: null });
      await series('').expect(400);
      await series('name=app.known&step=0').expect(400);
      await series('name=app.known&step=abc').expect(400);
      await series('name=app.known&from=yesterday').expect(400);
      const reversed = await series(`name=app.known&from=${iso(base + 1000)}&to=${iso(base)}`).expect(400);
      expect(reversed.body.code).toBe('metrics.invalid_range');
      await series('name=app.known&extra=1').expect(400);
    });
  });

  describe('scheduled jobs', () => {
    it('collects cpu, memory, disk and load of every running VM through one provider sample', async () => {
      const before = Date.now();
      const result = await ctx.app.get(MetricsJobs).collect();
      expect(result.sampled).toBeGreaterThanOrEqual(1);
      const rows: { name: string; value: number; unit: string | null; recorded_at: Date }[] = await ctx.db.query(
        `SELECT name, value, unit, recorded_at FROM metrics WHERE vm_id = $1 AND recorded_at >= $2 AND name NOT LIKE '%.%' ORDER BY name`,
        [vmId, new Date(before)],
      );
      expect(rows.map((r) => [r.name, r.unit])).toEqual([
        ['cpu_percent', '%'],
        ['disk_allocated_gb', 'GB'],
        ['disk_size_gb', 'GB'],
        ['disk_used_gb', 'GB'],
        ['load_1m', null],
        ['memory_total_mb', 'MB'],
        ['memory_used_mb', 'MB'],
      ]);
      expect(rows.find((r) => r.name === 'memory_total_mb')!.value).toBe(1024);
      expect(rows.find((r) => r.name === 'disk_size_gb')!.value).toBe(20);
      const cpu = rows.find((r) => r.name === 'cpu_percent')!;
      expect(cpu.value).toBeGreaterThanOrEqual(0);
      expect(cpu.value).toBeLessThanOrEqual(100);
      expect(rows.find((r) => r.name === 'memory_used_mb')!.value).toBeLessThanOrEqual(1024);
      const res = await series('name=memory_used_mb').expect(200);
      expect(res.body.unit).toBe('MB');
      expect(res.body.points.length).toBeGreaterThanOrEqual(1);
    });

    it('drops the partitions past the retention whole, keeps the rest, and makes the next days ahead', async () => {
      const repo = ctx.app.get(MetricsRepository);
      const now = Date.now();
      // Through the repository, which makes the old days' partitions (nothing was stored then).
      await repo.insert([
        ...Array.from({ length: 25 }, (_, g) => ({
          vmId,
          name: 'app.old',
          value: g,
          unit: null,
          recordedAt: new Date(now - 31 * 24 * HOUR - g * 60_000),
        })),
        { vmId, name: 'app.old', value: 0, unit: null, recordedAt: new Date(now - 29 * 24 * HOUR) },
      ]);
      const { dropped, created } = await ctx.app.get(MetricsJobs).prune();
      expect(dropped.length).toBeGreaterThanOrEqual(1);
      for (const p of dropped) expect(p.to.getTime()).toBeLessThanOrEqual(now - 30 * 24 * HOUR + 60_000);
      expect(created).toEqual([]);
      const [{ n }] = await ctx.db.query(`SELECT count(*)::int AS n FROM metrics WHERE vm_id = $1 AND name = 'app.old'`, [vmId]);
      expect(n).toBe(1);
      const names = (await repo.partitions()).map((p) => p.name);
      for (const p of dropped) expect(names).not.toContain(p.name);
      // Today's partition and the two days after it exist.
      const today = Math.floor(now / (24 * HOUR)) * 24 * HOUR;
      const parts = await repo.partitions();
      for (const t of [today, today + 24 * HOUR, today + 48 * HOUR]) {
        expect(parts.some((p) => p.from.getTime() <= t && t < p.to.getTime())).toBe(true);
      }
    });
  });
});

describe('the collection schedule with two workers on one database (e2e)', () => {
  it('runs sampling (per host) and retention (fleet-wide) once per interval however many workers tick', async () => {
    const database = await createTestDatabase();
    const env = { WORKER: true };
    const one = await createTestApp({ database, env });
    const two = await createTestApp({ database, env });
    const bothTicked = Date.now() + 5000;
    const runs: string[] = [];
    for (const app of [one, two]) app.app.get(QueueService).onJobOutcome((name, outcome) => runs.push(`${name} ${outcome}`));
    try {
      const collect = hostQueue('metrics-collect', TEST_HOST);
      for (const app of [one, two])
        expect(app.app.get(PeriodicService).scheduled()).toEqual(expect.arrayContaining([collect, 'metrics-prune']));
      // Both processes tick each task within 5 s of their start; one of them claims each run.
      await eventually(
        async () => {
          const rows: { name: string }[] = await one.db.query(`SELECT name FROM periodic_runs WHERE finished_at IS NOT NULL`);
          return [collect, 'metrics-prune'].every((n) => rows.some((r) => r.name === n));
        },
        15_000,
        'the first sampling and retention runs',
      );
      // Every process's first tick of a task comes within 5 s of its start: by then both have ticked.
      await new Promise((r) => setTimeout(r, Math.max(0, bothTicked + 500 - Date.now())));
      expect(runs.filter((r) => r.startsWith(collect))).toEqual([`${collect} completed`]);
      expect(runs.filter((r) => r.startsWith('metrics-prune'))).toEqual(['metrics-prune completed']);
    } finally {
      await two.close();
      await one.close();
      await database.drop();
    }
  }, 40_000);
});
