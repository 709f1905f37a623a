import { expect } from '@jest/globals';
import type { Client } from 'pg';
import { eventually } from './factories';
import { api, type ServiceProcess } from './processes';

/**
 * After a fault: every VM running, each provisioned exactly once, no critical event, no VM lock left,
 * and (when asked) the VM queues drained.
 */
export async function expectVmsSettled(db: Client, expected: number, opts: { userId?: string; drainQueues?: boolean } = {}): Promise<void> {
  const owner = opts.userId ? 'AND user_id = $1' : '';
  const params = opts.userId ? [opts.userId] : [];
  await eventually(
    async () =>
      (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM vms WHERE status = 'running' ${owner}`, params)).rows[0]!.n ===
      expected,
    90_000,
    'every VM running',
  );
  const { rows: provisioned } = await db.query<{ n: number }>(
    `SELECT v.id, count(e.id)::int AS n FROM vms v LEFT JOIN events e ON e.vm_id = v.id AND e.action = 'vm.provisioned' GROUP BY v.id`,
  );
  expect(provisioned.filter((r) => r.n !== 1)).toEqual([]);
  if (opts.drainQueues) {
    await eventually(
      async () =>
        (
          await db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pgboss.job WHERE state IN ('created', 'retry', 'active') AND name LIKE 'vm-operation%'`,
          )
        ).rows[0]!.n === 0,
      30_000,
      'the VM queues drained',
    );
  }
  const { rows: failures } = await db.query(`SELECT action, count(*)::int AS n FROM events WHERE severity = 'critical' GROUP BY action`);
  expect(failures).toEqual([]);
  const { rows: locks } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM vms WHERE locked_by IS NOT NULL`);
  expect(locks[0]!.n).toBe(0);
}

/** Every process still alive, the API healthy again, and no process logged an unhandled error or a fatal one. */
export async function expectProcessesSurvived(apiProcess: ServiceProcess, services: ServiceProcess[]): Promise<void> {
  for (const s of services) expect(s.alive()).toBe(true);
  expect((await api(apiProcess, 'GET', '/api/health')).body.status).toBe('ok');
  for (const s of services) expect(s.lines.filter((l) => /unhandled|FATAL/i.test(l))).toEqual([]);
}
