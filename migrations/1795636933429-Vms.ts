import { MigrationInterface, QueryRunner } from 'typeorm';

export class Vms1795636933429 implements MigrationInterface {
    name = 'Vms1795636933429'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE TABLE "vms" ("id" uuid NOT NULL, "user_id" uuid NOT NULL, "name" character varying(63) NOT NULL, "os_type" character varying(32) NOT NULL, "ram_mb" integer NOT NULL, "disk_gb" integer NOT NULL, "cpu_cores" integer NOT NULL, "status" character varying(16) NOT NULL, "ip_address" character varying(45), "ssh_port" integer, "uptime_seconds" integer NOT NULL DEFAULT '0', "last_started_at" TIMESTAMP(3) WITH TIME ZONE, "cost" integer NOT NULL, "host" character varying(255), "metadata" jsonb NOT NULL, "status_changed_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL, "locked_by" uuid, "locked_until" TIMESTAMP(3) WITH TIME ZONE, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), "destroyed_at" TIMESTAMP(3) WITH TIME ZONE, CONSTRAINT "PK_cc4544535b57023c558e999ceb8" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE INDEX "vms_status_idx" ON "vms"  ("status") `);
        await queryRunner.query(`CREATE INDEX "vms_created_idx" ON "vms"  ("created_at", "id") `);
        await queryRunner.query(`CREATE INDEX "vms_user_created_idx" ON "vms"  ("user_id", "created_at", "id") `);
        await queryRunner.query(`CREATE UNIQUE INDEX "vms_user_name_active_key" ON "vms"  ("user_id", "name") WHERE status <> 'destroyed'`);
        await queryRunner.query(`ALTER TABLE "vms" ADD CONSTRAINT "FK_f01a6cf2c4f376a71be2c6d0b6a" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "vms" DROP CONSTRAINT "FK_f01a6cf2c4f376a71be2c6d0b6a"`);
        await queryRunner.query(`DROP INDEX "public"."vms_user_name_active_key"`);
        await queryRunner.query(`DROP INDEX "public"."vms_user_created_idx"`);
        await queryRunner.query(`DROP INDEX "public"."vms_created_idx"`);
        await queryRunner.query(`DROP INDEX "public"."vms_status_idx"`);
        await queryRunner.query(`DROP TABLE "vms"`);
    }

}
