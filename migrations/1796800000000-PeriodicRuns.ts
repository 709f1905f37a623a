import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Periodic work without a queue per task (issue 24): a host's reconcile and sampling passes and the
 * fleet-wide sweeps were pg-boss schedules, each a queue (a partition of pgboss.job with six indexes),
 * a cron job and a poller; at 1,000 hosts two thirds of the job table's partitions and of pg-boss's
 * polling. Each process now claims a task's run once per interval with one statement on this table
 * (PeriodicService). The old schedules and their queues go (pg-boss's own delete_queue drops the
 * partition; the schedule goes with the queue).
 */
export class PeriodicRuns1796800000000 implements MigrationInterface {
    name = 'PeriodicRuns1796800000000'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE TABLE "periodic_runs" ("name" character varying(200) NOT NULL, "started_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL, "finished_at" TIMESTAMP(3) WITH TIME ZONE, "run_by" character varying(120) NOT NULL, CONSTRAINT "PK_periodic_runs_name" PRIMARY KEY ("name"))`);
        await queryRunner.query(`DO $$
          DECLARE q text;
          BEGIN
            IF to_regclass('pgboss.queue') IS NULL THEN RETURN; END IF;
            FOR q IN SELECT name FROM pgboss.queue
                WHERE name LIKE 'vm-reconcile.%' OR name LIKE 'metrics-collect.%'
                   OR name IN ('host-watch', 'metrics-prune', 'idempotency-purge')
            LOOP
              DELETE FROM pgboss.job WHERE name = q;
              PERFORM pgboss.delete_queue(q);
            END LOOP;
          END $$`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        // The previous version makes its schedules and queues again when its workers start.
        await queryRunner.query(`DROP TABLE "periodic_runs"`);
    }

}
