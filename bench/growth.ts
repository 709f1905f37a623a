/**
 * The growth case's data and endpoints: every list the API serves, measured on its first page as
 * each table it reads grows to 10k, 100k and 1M rows (bulk-seeded by SQL). Per-user lists read a
 * user who owns one row in ten; admin lists read everyone's.
 */
import type { GrowthEndpoint } from './report';
import { sql } from './support';

/** Users besides the measured one who own the other nine rows in ten. */
export const GROWTH_FILLERS = 9;

/** Every table a list reads, seeded to `target` rows; `owners[0]` is the measured user. */
const SEEDS: Record<string, (owner: string, stamp: string) => string> = {
  events: (owner, t) => `INSERT INTO events (id, type, action, severity, message, details, user_id, vm_id, actor_id, created_at)
    SELECT gen_random_uuid(),
           (ARRAY['vm','system','vm','auth'])[1 + i % 4],
           (ARRAY['vm.create','system.credit_deduction','vm.provisioned','auth.login'])[1 + i % 4],
           CASE WHEN i % 50 = 0 THEN 'critical' WHEN i % 10 = 0 THEN 'warning' ELSE 'info' END,
           'Seeded event ' || i || ' for the growth benchmark',
           jsonb_build_object('seq', i, 'source', 'bench', 'cost', 34),
           ${owner}, CASE WHEN i % 4 = 3 THEN NULL ELSE gen_random_uuid() END, NULL, ${t}
      FROM generate_series($1::int, $2::int) i`,
  // Spread over as many hosts as there are rows (a host holds a few VMs, as real ones do).
  vms: (owner, t) => `INSERT INTO vms (id, user_id, name, os_type, ram_mb, disk_gb, cpu_cores, status, ip_address, ssh_port, uptime_seconds,
                    last_started_at, cost, host, metadata, status_changed_at, created_at, updated_at, destroyed_at)
    SELECT gen_random_uuid(), ${owner}, 'g' || i, 'ubuntu-22.04', 1024, 20, 2, s.status,
           CASE WHEN s.status = 'running' THEN '10.0.' || (i / 250 % 250) || '.' || (i % 250 + 2) END,
           CASE WHEN s.status = 'running' THEN 2200 + i % 800 END,
           i % 86400, CASE WHEN s.status = 'running' THEN now() - interval '1 hour' END,
           34, 'hv-' || lpad((1 + i % $2::int)::text, 7, '0'), jsonb_build_object('team', 'bench', 'seq', i), c.t, c.t, c.t,
           CASE WHEN s.status = 'destroyed' THEN c.t END
      FROM generate_series($1::int, $2::int) i,
           LATERAL (SELECT (ARRAY['running','running','running','running','running','running','stopped','destroyed','failed','provisioning'])[1 + i % 10] AS status) s,
           LATERAL (SELECT ${t} AS t) c`,
  credit_transactions: (
    owner,
    t,
  ) => `INSERT INTO credit_transactions (id, user_id, amount, balance_after, kind, reason, vm_id, actor_id, created_at)
    SELECT gen_random_uuid(), ${owner}, -34, 1000000, 'vm_create', 'VM g' || i, gen_random_uuid(), NULL, ${t}
      FROM generate_series($1::int, $2::int) i`,
  ssh_keys: (owner, t) => `INSERT INTO ssh_keys (id, user_id, name, type, bits, fingerprint, public_key, created_at)
    SELECT gen_random_uuid(), ${owner}, 'key-' || i, 'ssh-ed25519', 256, 'SHA256:' || md5(i::text),
           'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI' || md5(i::text) || ' bench' || i, ${t}
      FROM generate_series($1::int, $2::int) i`,
  users: (_owner, t) => `INSERT INTO users (username, email, password_hash, credits, created_at, updated_at)
    SELECT 'grow' || i, 'grow' || i || '@example.com', '!', 0, ${t}, ${t} FROM generate_series($1::int, $2::int) i`,
  hosts: (
    _owner,
    t,
  ) => `INSERT INTO hosts (name, cpu_cores, ram_mb, disk_gb, cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio,
                      version, last_seen_at, created_at, updated_at)
    SELECT 'hv-' || lpad(i::text, 7, '0'), 64, 262144, 4000, 4, 1.5, 1, 'bench', now(), ${t}, ${t} FROM generate_series($1::int, $2::int) i`,
};

/** Tops every table a list reads up to `target` rows. */
export async function topUpGrowth(dbUrl: string, target: number, owners: string[]): Promise<void> {
  for (const [table, seed] of Object.entries(SEEDS)) {
    const [{ n } = { n: 0 }] = await sql<{ n: number }>(dbUrl, `SELECT count(*)::int AS n FROM ${table}`);
    if (n < target) {
      // Rows spread over the owners (the measured user owns one in ten), created over the past year.
      const text = seed('($3::uuid[])[1 + i % cardinality($3::uuid[])]', `now() - random() * interval '365 days'`);
      await sql(dbUrl, text, text.includes('$3') ? [n + 1, target, owners] : [n + 1, target]);
    }
    await sql(dbUrl, `VACUUM ANALYZE ${table}`);
  }
}

/** The first page (50) of every list endpoint. */
export function growthEndpoints(user: { id: string; token: string }, admin: string): { id: GrowthEndpoint; path: string; token: string }[] {
  return [
    { id: 'vms', path: '/api/vms?limit=50', token: user.token },
    { id: 'events', path: '/api/events?limit=50', token: user.token },
    { id: 'ledger', path: '/api/credits/transactions?limit=50', token: user.token },
    { id: 'ssh_keys', path: '/api/ssh-keys?limit=50', token: user.token },
    { id: 'admin_vms', path: '/api/admin/vms?limit=50', token: admin },
    { id: 'admin_events', path: '/api/admin/events?limit=50', token: admin },
    { id: 'admin_users', path: '/api/admin/users?limit=50', token: admin },
    { id: 'admin_ledger', path: `/api/admin/users/${user.id}/credits/transactions?limit=50`, token: admin },
    { id: 'admin_hosts', path: '/api/admin/hosts?limit=50', token: admin },
  ];
}
