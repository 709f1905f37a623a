-- pgbench script: the SQL of one VM create (POST /api/vms) as the service sends it, the database
-- ceiling for that case. Mirrors, statement for statement: CreditsGuard's early balance read (before
-- the transaction), then BEGIN; the conditional debit with its ledger row in one statement
-- (CreditsService.apply); the user's quota overrides (VmsService.assertWithinQuota; no limits are set,
-- so nothing is counted); placement's candidate host with its row lock, first skipping locked hosts,
-- then waiting (HostsService.place: on the bench's one host the second query runs whenever another
-- create holds it); then ONE statement that re-checks the host's room under the lock and writes the
-- VM row, the two events with their notifications and pg-boss 10's insertJob
-- (node_modules/pg-boss/src/plans.js) with the parameters the service sends (VmsService.insertPlaced);
-- COMMIT. Keep it in step with those when they change. It leaves out what the HTTP path adds around
-- it (JWT check, whose user read is cached per process).
--
-- Variables: :nusers (set by bench/run.ts with -D). Each client debits its own user
-- ('00000000-0000-4000-8000-' || n), like the HTTP case rotating over as many users.
-- VM ids come from two random 63-bit numbers (the service makes a uuid v7 in JavaScript).
\set u (:client_id % :nusers) + 1
\set vh random(1, 9223372036854775807)
\set vl random(1, 9223372036854775807)
SELECT credits FROM users WHERE id = ('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid;
BEGIN;
WITH moved AS (
  UPDATE users SET credits = credits + -34, updated_at = now()
   WHERE id = ('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid AND credits::bigint + -34 BETWEEN 0 AND 1000000000
   RETURNING credits)
INSERT INTO credit_transactions (id, user_id, amount, balance_after, kind, reason, vm_id, actor_id, created_at)
SELECT gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid, -34, moved.credits, 'vm_create'::varchar,
       ('VM pgb-' || to_hex(:vh::bigint))::varchar, (lpad(to_hex(:vh::bigint), 16, '0') || lpad(to_hex(:vl::bigint), 16, '0'))::uuid, NULL::uuid, clock_timestamp()
  FROM moved
RETURNING balance_after AS balance, created_at \gset
SELECT quota_max_vms AS vms, quota_max_cpu_cores AS cpu_cores, quota_max_ram_mb AS ram_mb FROM users WHERE id = ('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid;
SELECT count(*) AS free FROM (SELECT h.name FROM hosts h CROSS JOIN LATERAL (SELECT COALESCE(sum(cpu_cores), 0)::int AS cpu, COALESCE(sum(ram_mb), 0)::int AS ram,
  COALESCE(sum(disk_gb), 0)::int AS disk, count(*)::int AS vms
  FROM vms WHERE host = h.name AND status <> 'destroyed' AND released_at IS NULL) a
  WHERE h.schedulable AND h.last_seen_at > now() - make_interval(secs => 86400) AND h.name <> ALL('{}'::text[])
    AND a.cpu + 2 <= h.cpu_cores * h.cpu_allocation_ratio AND a.ram + 1024 <= h.ram_mb * h.ram_allocation_ratio
    AND a.disk + 20 <= h.disk_gb * h.disk_allocation_ratio
  ORDER BY h.ram_mb * h.ram_allocation_ratio - a.ram DESC, h.name LIMIT 1 FOR UPDATE OF h SKIP LOCKED) c \gset
\if :free = 0
SELECT h.name FROM hosts h CROSS JOIN LATERAL (SELECT COALESCE(sum(cpu_cores), 0)::int AS cpu, COALESCE(sum(ram_mb), 0)::int AS ram,
  COALESCE(sum(disk_gb), 0)::int AS disk, count(*)::int AS vms
  FROM vms WHERE host = h.name AND status <> 'destroyed' AND released_at IS NULL) a
  WHERE h.schedulable AND h.last_seen_at > now() - make_interval(secs => 86400) AND h.name <> ALL('{}'::text[])
    AND a.cpu + 2 <= h.cpu_cores * h.cpu_allocation_ratio AND a.ram + 1024 <= h.ram_mb * h.ram_allocation_ratio
    AND a.disk + 20 <= h.disk_gb * h.disk_allocation_ratio
  ORDER BY h.ram_mb * h.ram_allocation_ratio - a.ram DESC, h.name LIMIT 1 FOR UPDATE OF h;
\endif
WITH fit AS (
  SELECT a.cpu + 2 <= h.cpu_cores * h.cpu_allocation_ratio AND a.ram + 1024 <= h.ram_mb * h.ram_allocation_ratio
    AND a.disk + 20 <= h.disk_gb * h.disk_allocation_ratio AS fits
  FROM hosts h CROSS JOIN LATERAL (SELECT COALESCE(sum(cpu_cores), 0)::int AS cpu, COALESCE(sum(ram_mb), 0)::int AS ram,
  COALESCE(sum(disk_gb), 0)::int AS disk, count(*)::int AS vms
  FROM vms WHERE host = h.name AND status <> 'destroyed' AND released_at IS NULL) a WHERE h.name = 'bench-host'),
vm AS (
  INSERT INTO vms (id, user_id, name, os_type, ram_mb, disk_gb, cpu_cores, status, cost, metadata, ssh_keys, ssh_user, status_changed_at, host)
  SELECT (lpad(to_hex(:vh::bigint), 16, '0') || lpad(to_hex(:vl::bigint), 16, '0'))::uuid, ('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid, ('pgb-' || to_hex(:vh::bigint))::varchar, 'ubuntu-22.04'::varchar, 1024, 20, 2, 'provisioning', 34, '{}'::jsonb, '[]'::jsonb,
         'vmuser'::varchar, now(), 'bench-host'::varchar
    FROM fit WHERE fit.fits
  RETURNING id, user_id, name, os_type, ram_mb, disk_gb, cpu_cores, status, ip_address, ssh_port, uptime_seconds, last_started_at,
            cost, host, metadata, ssh_keys, ssh_user, status_changed_at, created_at, updated_at, destroyed_at),
ev AS (
  INSERT INTO events (id, type, action, severity, message, details, user_id, vm_id, actor_id, created_at)
  SELECT e.* FROM vm CROSS JOIN (VALUES
    (gen_random_uuid(), 'vm'::varchar, 'vm.create'::varchar, 'info'::varchar, 'VM pgb-' || to_hex(:vh::bigint) || ' requested (ubuntu-22.04, 1024 MB, 20 GB, 2 cores)',
     '{"cost": 34, "name": "pgb", "ram_mb": 1024, "disk_gb": 20, "os_type": "ubuntu-22.04", "cpu_cores": 2, "ssh_user": "vmuser", "ssh_keys": []}'::jsonb,
     ('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid, (lpad(to_hex(:vh::bigint), 16, '0') || lpad(to_hex(:vl::bigint), 16, '0'))::uuid, NULL::uuid, now()),
    (gen_random_uuid(), 'system', 'system.credit_deduction', 'info', 'Charged 34 credits for VM pgb-' || to_hex(:vh::bigint),
     jsonb_build_object('amount', -34, 'ledger_id', gen_random_uuid(), 'balance_after', :balance::int),
     ('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid, (lpad(to_hex(:vh::bigint), 16, '0') || lpad(to_hex(:vl::bigint), 16, '0'))::uuid, NULL, now())) AS e
  RETURNING id, user_id),
job AS (
INSERT INTO pgboss.job (id, name, data, priority, start_after, singleton_key, singleton_on, dead_letter, expire_in, keep_until, retry_limit, retry_delay, retry_backoff, policy)
  SELECT id, j.name, data, priority, start_after, singleton_key, singleton_on,
    COALESCE(j.dead_letter, q.dead_letter) as dead_letter,
    CASE
      WHEN expire_in IS NOT NULL THEN expire_in::numeric * interval '1s'
      WHEN q.expire_seconds IS NOT NULL THEN q.expire_seconds * interval '1s'
      WHEN expire_in_default IS NOT NULL THEN expire_in_default::numeric * interval '1s'
      ELSE interval '15 minutes'
      END as expire_in,
    CASE
      WHEN right(keep_until, 1) = 'Z' THEN CAST(keep_until as timestamp with time zone)
      ELSE start_after + CAST(COALESCE(keep_until, (q.retention_minutes * 60)::text, keep_until_default, '14 days') as interval)
      END as keep_until,
    COALESCE(j.retry_limit, q.retry_limit, retry_limit_default, 2) as retry_limit,
    CASE
      WHEN COALESCE(j.retry_backoff, q.retry_backoff, retry_backoff_default, false)
      THEN GREATEST(COALESCE(j.retry_delay, q.retry_delay, retry_delay_default), 1)
      ELSE COALESCE(j.retry_delay, q.retry_delay, retry_delay_default, 0)
      END as retry_delay,
    COALESCE(j.retry_backoff, q.retry_backoff, retry_backoff_default, false) as retry_backoff,
    q.policy
  FROM
    ( SELECT
        COALESCE(NULL::uuid, gen_random_uuid()) as id,
        'vm-operation.bench-host'::text as name,
        jsonb_build_object('op', 'up', 'vmId', (lpad(to_hex(:vh::bigint), 16, '0') || lpad(to_hex(:vl::bigint), 16, '0'))::uuid, 'expect', 'provisioning') as data,
        COALESCE(0::int, 0) as priority,
        now() + CAST(COALESCE(NULL::text, '0') as interval) as start_after,
        NULL::text as singleton_key,
        NULL::timestamp as singleton_on,
        NULL::text as dead_letter,
        '960'::text as expire_in,
        NULL::text as expire_in_default,
        NULL::text as keep_until,
        NULL::text as keep_until_default,
        NULL::int as retry_limit,
        NULL::int as retry_limit_default,
        NULL::int as retry_delay,
        NULL::int as retry_delay_default,
        NULL::bool as retry_backoff,
        NULL::bool as retry_backoff_default
    ) j JOIN pgboss.queue q ON j.name = q.name
  ON CONFLICT DO NOTHING
  RETURNING id)
SELECT vm.*, (SELECT count(*) FROM job)::int AS jobs,
       (SELECT count(*) FROM (SELECT pg_notify('vmapi_events', json_build_object('id', id, 'u', user_id)::text) FROM ev ORDER BY id) n) AS notified
  FROM vm;
COMMIT;
