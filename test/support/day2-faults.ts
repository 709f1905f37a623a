import { expect } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from 'pg';
import type { SimulatedMachine } from '../../src/modules/vms/providers/simulator.provider';
import { eventually } from './factories';
import { api, type ServiceProcess } from './processes';

/**
 * The day-2 operations under a fault (worker SIGTERM, kill -9, a database outage), on real
 * processes: one VM per operation brought to where it can start, the operations requested together,
 * and the checks that each finished once, whatever happened in the middle.
 */

export type Day2Op = 'resize' | 'rebuild' | 'snapshot' | 'restore' | 'delete';

const spec = { os_type: 'debian-12', ram_mb: 512, disk_gb: 10, cpu_cores: 1 };
const RESIZED = { ram_mb: 1024, cpu_cores: 2, disk_gb: 20 };
const REBUILT_OS = 'ubuntu-24.04';

export interface Day2Run {
  ops: Day2Op[];
  /** The VM of each operation. */
  vm: Partial<Record<Day2Op, string>>;
  /** The snapshot the restore goes back to and the one the delete removes (taken before the fault). */
  before: Partial<Record<'restore' | 'delete', string>>;
  /** The snapshot the `snapshot` operation takes (known once requested). */
  taken?: string;
  /** The database's clock when the operations were requested: the events from then on are theirs. */
  since?: string;
}

/** The simulated machine of a VM, as every process on the host sees it. */
export async function machine(stateDir: string, vmId: string): Promise<SimulatedMachine> {
  return JSON.parse(await readFile(join(stateDir, `${vmId}.json`), 'utf8')) as SimulatedMachine;
}

/** The body of an answer with the expected status (`{ id }` for every request here), or an error saying what came. */
async function ok(res: ReturnType<typeof api>, status: number, what: string): Promise<{ id: string }> {
  const { status: got, body } = await res;
  if (got !== status) throw new Error(`${what}: ${got} ${JSON.stringify(body)}`);
  return body as { id: string };
}

const waitFor = (db: Client, sql: string, params: unknown[], what: string, timeoutMs = 60_000) =>
  eventually(async () => (await db.query<{ ok: boolean }>(sql, params)).rows[0]?.ok, timeoutMs, what);

/**
 * A VM per operation, ready for it (a worker that finishes quickly must be consuming): resize's
 * stopped, restore's and delete's with an available snapshot, the others running.
 */
export async function prepareDay2(service: ServiceProcess, token: string, db: Client, ops: Day2Op[]): Promise<Day2Run> {
  const run: Day2Run = { ops, vm: {}, before: {} };
  for (const op of ops) run.vm[op] = (await ok(api(service, 'POST', '/api/vms', { name: `day2-${op}`, ...spec }, token), 202, 'create')).id;
  const ids = Object.values(run.vm);
  await waitFor(db, `SELECT count(*) = $2 AS ok FROM vms WHERE id = ANY($1) AND status = 'running'`, [ids, ids.length], 'every VM running');
  const { resize } = run.vm;
  // The VMs whose operation needs a snapshot taken before: restore's and delete's.
  const withSnapshot = (['restore', 'delete'] as const).filter((op) => run.vm[op]);
  await Promise.all([
    resize &&
      ok(api(service, 'POST', `/api/vms/${resize}/action`, { action: 'stop' }, token), 202, 'stop').then(() =>
        waitFor(db, `SELECT status = 'stopped' AS ok FROM vms WHERE id = $1`, [resize], 'the VM to resize stopped'),
      ),
    ...withSnapshot.map(async (op) => {
      const { id } = await ok(api(service, 'POST', `/api/vms/${run.vm[op]}/snapshots`, { name: 'before' }, token), 202, 'snapshot');
      run.before[op] = id;
      await waitFor(
        db,
        `SELECT pending_operation IS NULL AS ok FROM vms v JOIN vm_snapshots s ON s.vm_id = v.id AND s.id = $1 AND s.status = 'available'`,
        [id],
        `the snapshot to ${op} available`,
      );
    }),
  ]);
  return run;
}

/** Requests every operation of `run` at once (each answered 202). */
export async function requestDay2(service: ServiceProcess, token: string, db: Client, run: Day2Run): Promise<void> {
  const { vm } = run;
  run.since = (await db.query<{ now: string }>(`SELECT date_trunc('milliseconds', now())::text AS now`)).rows[0]!.now;
  const requests: Promise<unknown>[] = [];
  if (vm.resize)
    requests.push(ok(api(service, 'POST', `/api/vms/${vm.resize}/action`, { action: 'resize', ...RESIZED }, token), 202, 'resize'));
  if (vm.rebuild)
    requests.push(
      ok(api(service, 'POST', `/api/vms/${vm.rebuild}/action`, { action: 'rebuild', os_type: REBUILT_OS }, token), 202, 'rebuild'),
    );
  if (vm.snapshot) {
    requests.push(
      ok(api(service, 'POST', `/api/vms/${vm.snapshot}/snapshots`, { name: 'during' }, token), 202, 'snapshot').then(
        (s) => (run.taken = s.id),
      ),
    );
  }
  if (vm.restore)
    requests.push(ok(api(service, 'POST', `/api/vms/${vm.restore}/snapshots/${run.before.restore}/restore`, {}, token), 202, 'restore'));
  if (vm.delete)
    requests.push(ok(api(service, 'DELETE', `/api/vms/${vm.delete}/snapshots/${run.before.delete}`, {}, token), 202, 'delete'));
  await Promise.all(requests);
}

/** Resolves once a worker holds the lease of every VM of `run` (its operation is in flight). */
export async function day2InFlight(db: Client, run: Day2Run, timeoutMs = 20_000): Promise<void> {
  const ids = Object.values(run.vm);
  await waitFor(
    db,
    `SELECT count(*) = $2 AS ok FROM vms WHERE id = ANY($1) AND locked_by IS NOT NULL`,
    [ids, ids.length],
    'every operation leased',
    timeoutMs,
  );
}

/** The events of each VM of `run` since the operations were requested: action -> count. */
async function eventsSince(db: Client, run: Day2Run): Promise<Partial<Record<Day2Op, Record<string, number>>>> {
  const out: Partial<Record<Day2Op, Record<string, number>>> = {};
  for (const op of run.ops) {
    const { rows } = await db.query<{ action: string; n: number }>(
      `SELECT action, count(*)::int AS n FROM events WHERE vm_id = $1 AND created_at >= $2 GROUP BY action ORDER BY action`,
      [run.vm[op], run.since],
    );
    out[op] = Object.fromEntries(rows.map((r) => [r.action, r.n]));
  }
  return out;
}

/** What each operation records, once each, from its request to its end. */
const STEPS: Record<Day2Op, Record<string, number>> = {
  resize: { 'system.credit_deduction': 1, 'vm.action_requested': 1, 'vm.resized': 1 },
  rebuild: { 'vm.action_requested': 1, 'vm.rebuilt': 1 },
  snapshot: { 'system.credit_deduction': 1, 'vm.snapshot_created': 1, 'vm.snapshot_requested': 1 },
  restore: { 'vm.snapshot_restore_requested': 1, 'vm.snapshot_restored': 1 },
  delete: { 'vm.snapshot_delete_requested': 1, 'vm.snapshot_deleted': 1 },
};

/**
 * Every operation of `run` finished, once: no VM left resizing/rebuilding/restoring or leased, no
 * snapshot left creating or deleting, no operation slot held; the new size, OS and snapshots on the
 * simulated machine; one charge each (vm_resize, snapshot_create) and the balance equal to the ledger; each
 * step's event exactly once and no failure.
 */
export async function expectDay2Done(db: Client, run: Day2Run, stateDir: string, timeoutMs = 60_000): Promise<void> {
  const ids = Object.values(run.vm);
  await waitFor(
    db,
    `SELECT count(*) = 0 AS ok FROM vms WHERE id = ANY($1) AND (status IN ('resizing', 'rebuilding', 'restoring') OR pending_operation IS NOT NULL OR locked_by IS NOT NULL)`,
    [ids],
    'every operation finished',
    timeoutMs,
  );
  const { rows } = await db.query<{ id: string }>(`SELECT id, status, ram_mb, cpu_cores, disk_gb, os_type FROM vms WHERE id = ANY($1)`, [
    ids,
  ]);
  const row = (op: Day2Op) => rows.find((r) => r.id === run.vm[op]);
  const { vm } = run;
  if (vm.resize) {
    expect(row('resize')).toMatchObject({ status: 'stopped', ...RESIZED });
    expect((await machine(stateDir, vm.resize)).size).toMatchObject({
      ramMb: RESIZED.ram_mb,
      cpuCores: RESIZED.cpu_cores,
      diskGb: RESIZED.disk_gb,
    });
  }
  if (vm.rebuild) {
    expect(row('rebuild')).toMatchObject({ status: 'running', os_type: REBUILT_OS });
    const m = await machine(stateDir, vm.rebuild);
    expect(m).toMatchObject({ state: 'running', size: { osType: REBUILT_OS } });
    expect(m.disk).toMatch(new RegExp(`^${REBUILT_OS}:`));
  }
  if (vm.snapshot) {
    expect(row('snapshot')).toMatchObject({ status: 'running' });
    const { rows: snaps } = await db.query(`SELECT id, status FROM vm_snapshots WHERE vm_id = $1`, [vm.snapshot]);
    expect(snaps).toEqual([{ id: run.taken, status: 'available' }]);
    expect(Object.keys((await machine(stateDir, vm.snapshot)).snapshots ?? {})).toEqual([run.taken]);
  }
  if (vm.restore) expect(row('restore')).toMatchObject({ status: 'running' });
  if (vm.delete) {
    expect(row('delete')).toMatchObject({ status: 'running' });
    expect((await db.query(`SELECT id FROM vm_snapshots WHERE vm_id = $1`, [vm.delete])).rows).toEqual([]);
    expect((await machine(stateDir, vm.delete)).snapshots).toEqual({});
  }

  const { rows: charges } = await db.query<{ vm_id: string; kind: string; n: number }>(
    `SELECT vm_id, kind, count(*)::int AS n FROM credit_transactions WHERE vm_id = ANY($1) AND created_at >= $2 GROUP BY vm_id, kind ORDER BY kind`,
    [ids, run.since],
  );
  const expected = [
    ...(vm.snapshot ? [{ vm_id: vm.snapshot, kind: 'snapshot_create', n: 1 }] : []),
    ...(vm.resize ? [{ vm_id: vm.resize, kind: 'vm_resize', n: 1 }] : []),
  ];
  expect(charges).toEqual(expected);
  const { rows: balances } = await db.query(
    `SELECT u.credits, (SELECT sum(amount)::int FROM credit_transactions t WHERE t.user_id = u.id) AS ledger
       FROM users u WHERE u.id IN (SELECT user_id FROM vms WHERE id = ANY($1))`,
    [ids],
  );
  for (const b of balances) expect(b.ledger).toBe(b.credits);

  const expectedEvents = Object.fromEntries(run.ops.map((op) => [op, STEPS[op]]));
  expect(await eventsSince(db, run)).toEqual(expectedEvents);
}
