import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Written by hand. Hypervisor hosts register themselves (workers upsert their row and heartbeat);
 * admins drain them (`schedulable`). VMs keep naming their host in `vms.host`, deliberately without a
 * foreign key: VMs from before this migration name the machine's hostname, whose row appears when a
 * worker of that host registers (until then the host counts as offline). Existing VMs are not
 * backfilled: only a worker of the host a VM ran on can know it, and running VMs already name theirs.
 *
 * `released_at`: set when a `failed` VM's machine is known to be gone (the reconciler found it
 * not_created), so its cores, RAM and disk no longer count against its host before it is destroyed.
 * The partial index covers exactly the VMs that count, with the summed columns, for placement.
 */
export class Hosts1795823222648 implements MigrationInterface {
    name = 'Hosts1795823222648'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE TABLE "hosts" (
            "name" character varying(100) NOT NULL,
            "cpu_cores" integer NOT NULL,
            "ram_mb" integer NOT NULL,
            "disk_gb" integer NOT NULL,
            "cpu_allocation_ratio" double precision NOT NULL,
            "ram_allocation_ratio" double precision NOT NULL,
            "disk_allocation_ratio" double precision NOT NULL,
            "schedulable" boolean NOT NULL DEFAULT true,
            "schedulable_reason" character varying(500),
            "version" character varying(64) NOT NULL,
            "last_seen_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL,
            "offline_warned_at" TIMESTAMP(3) WITH TIME ZONE,
            "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(),
            "updated_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(),
            CONSTRAINT "hosts_capacity_positive" CHECK ("cpu_cores" > 0 AND "ram_mb" > 0 AND "disk_gb" > 0),
            CONSTRAINT "PK_hosts_name" PRIMARY KEY ("name"))`);
        await queryRunner.query(`ALTER TABLE "vms" ADD "released_at" TIMESTAMP(3) WITH TIME ZONE`);
        await queryRunner.query(`CREATE INDEX "vms_host_allocated_idx" ON "vms" ("host") INCLUDE ("cpu_cores", "ram_mb", "disk_gb")
            WHERE "status" <> 'destroyed' AND "released_at" IS NULL`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`DROP INDEX "vms_host_allocated_idx"`);
        await queryRunner.query(`ALTER TABLE "vms" DROP COLUMN "released_at"`);
        await queryRunner.query(`DROP TABLE "hosts"`);
    }
}
