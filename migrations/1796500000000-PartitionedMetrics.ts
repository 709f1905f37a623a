import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Metrics storage for a fleet (issue 24): `metrics` becomes a table partitioned by RANGE on
 * recorded_at, so retention drops whole partitions instead of deleting rows. A partitioned table's
 * primary key must hold the partition key: it becomes (id, recorded_at). The BRIN index on
 * recorded_at (there for the DELETE by age) goes; the covering series index is declared on the
 * parent and so exists on every partition. The existing points move into one partition per UTC day
 * that holds any (ids kept), with today's and the next two days' partitions made ahead.
 *
 * Partitions are made and dropped at run time (MetricsRepository), where the service's role may have
 * no DDL rights (scripts/db/create-roles.sql): two functions run with their owner's rights (SECURITY
 * DEFINER, fixed search_path, every table named with its schema), as pg-boss's create_queue does.
 * `metrics_create_partition` takes its bounds from the caller and names the partition after the lower
 * bound; `metrics_drop_partition` drops only a partition of public.metrics and waits at most 2 s for
 * its lock (ACCESS EXCLUSIVE on the parent, during which reads queue), so a long read postpones a
 * drop to the next run instead of stalling every read behind it.
 */
export class PartitionedMetrics1796500000000 implements MigrationInterface {
    name = 'PartitionedMetrics1796500000000'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "metrics" RENAME TO "metrics_unpartitioned"`);
        await queryRunner.query(`DROP INDEX "public"."metrics_vm_name_recorded_idx"`);
        await queryRunner.query(`DROP INDEX "public"."metrics_recorded_brin"`);
        await queryRunner.query(`CREATE TABLE "metrics" ("id" bigint GENERATED ALWAYS AS IDENTITY NOT NULL, "vm_id" uuid NOT NULL, "name" character varying(64) NOT NULL, "value" double precision NOT NULL, "unit" character varying(16), "recorded_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL, CONSTRAINT "PK_17e1ab6237ef9443dc19caf72c7" PRIMARY KEY ("id", "recorded_at")) PARTITION BY RANGE ("recorded_at")`);
        await queryRunner.query(`ALTER TABLE "metrics_unpartitioned" DROP CONSTRAINT "FK_e32a98422c8ece0bd7c98cbacdf"`);
        await queryRunner.query(`ALTER TABLE "metrics" ADD CONSTRAINT "FK_e32a98422c8ece0bd7c98cbacdf" FOREIGN KEY ("vm_id") REFERENCES "vms"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
        // Insert-only: each partition is vacuumed after 2% new rows (default 20%), so recent pages get
        // visibility-map bits and series reads stay index-only (storage parameters live on partitions).
        await queryRunner.query(`CREATE FUNCTION public.metrics_create_partition(p_from timestamptz, p_to timestamptz) RETURNS text
            LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET "TimeZone" = 'UTC' SET "DateStyle" = 'ISO' AS $$
            DECLARE
              part text := 'metrics_p' || to_char(p_from, 'YYYYMMDD"_"HH24MI');
            BEGIN
              IF p_from IS NULL OR p_to IS NULL OR p_to <= p_from OR p_to - p_from > interval '31 days' THEN
                RAISE EXCEPTION 'metrics partition bounds out of range: [%, %)', p_from, p_to USING ERRCODE = '22023';
              END IF;
              EXECUTE format('CREATE TABLE public.%I (LIKE public.metrics INCLUDING DEFAULTS) WITH (autovacuum_vacuum_insert_scale_factor = 0.02)', part);
              EXECUTE format('ALTER TABLE public.metrics ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)', part, p_from, p_to);
              RETURN part;
            END $$`);
        await queryRunner.query(`CREATE FUNCTION public.metrics_drop_partition(p_name text) RETURNS boolean
            LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET lock_timeout = '2s' AS $$
            BEGIN
              IF NOT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                              WHERE i.inhparent = 'public.metrics'::regclass AND c.relname = p_name
                                AND c.relnamespace = 'public'::regnamespace) THEN
                RETURN false;
              END IF;
              EXECUTE format('DROP TABLE public.%I', p_name);
              RETURN true;
            END $$`);
        const days = (await queryRunner.query(
            `SELECT DISTINCT date_bin('1 day', recorded_at, timestamptz 'epoch') AS day FROM "metrics_unpartitioned"
             UNION SELECT date_bin('1 day', now(), timestamptz 'epoch') + make_interval(hours => 24 * n) FROM generate_series(0, 2) AS n
             ORDER BY 1`,
        )) as { day: Date }[];
        for (const { day } of days) {
            await queryRunner.query(`SELECT public.metrics_create_partition($1, $1::timestamptz + interval '24 hours')`, [day]);
        }
        await queryRunner.query(`INSERT INTO "metrics" ("id", "vm_id", "name", "value", "unit", "recorded_at") OVERRIDING SYSTEM VALUE SELECT "id", "vm_id", "name", "value", "unit", "recorded_at" FROM "metrics_unpartitioned"`);
        await queryRunner.query(`SELECT setval(pg_get_serial_sequence('"metrics"', 'id'), (SELECT max("id") FROM "metrics"))`);
        await queryRunner.query(`DROP TABLE "metrics_unpartitioned"`);
        // After the rows: one index build per partition instead of row-by-row maintenance.
        await queryRunner.query(`CREATE INDEX "metrics_vm_name_recorded_idx" ON "metrics" ("vm_id", "name", "recorded_at") INCLUDE ("value")`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "metrics" RENAME TO "metrics_partitioned"`);
        await queryRunner.query(`DROP INDEX "public"."metrics_vm_name_recorded_idx"`);
        await queryRunner.query(`ALTER TABLE "metrics_partitioned" DROP CONSTRAINT "FK_e32a98422c8ece0bd7c98cbacdf"`);
        await queryRunner.query(`CREATE TABLE "metrics" ("id" bigint GENERATED ALWAYS AS IDENTITY NOT NULL, "vm_id" uuid NOT NULL, "name" character varying(64) NOT NULL, "value" double precision NOT NULL, "unit" character varying(16), "recorded_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL, CONSTRAINT "PK_5283cad666a83376e28a715bf0e" PRIMARY KEY ("id"))`);
        await queryRunner.query(`INSERT INTO "metrics" ("id", "vm_id", "name", "value", "unit", "recorded_at") OVERRIDING SYSTEM VALUE SELECT "id", "vm_id", "name", "value", "unit", "recorded_at" FROM "metrics_partitioned"`);
        await queryRunner.query(`SELECT setval(pg_get_serial_sequence('"metrics"', 'id'), (SELECT max("id") FROM "metrics"))`);
        await queryRunner.query(`DROP TABLE "metrics_partitioned"`);
        await queryRunner.query(`DROP FUNCTION public.metrics_drop_partition(text)`);
        await queryRunner.query(`DROP FUNCTION public.metrics_create_partition(timestamptz, timestamptz)`);
        await queryRunner.query(`CREATE INDEX "metrics_recorded_brin" ON "metrics" USING brin ("recorded_at") `);
        await queryRunner.query(`CREATE INDEX "metrics_vm_name_recorded_idx" ON "metrics" ("vm_id", "name", "recorded_at") INCLUDE ("value")`);
        await queryRunner.query(`ALTER TABLE "metrics" SET (autovacuum_vacuum_insert_scale_factor = 0.02)`);
        await queryRunner.query(`ALTER TABLE "metrics" ADD CONSTRAINT "FK_e32a98422c8ece0bd7c98cbacdf" FOREIGN KEY ("vm_id") REFERENCES "vms"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    }
}
