import { MigrationInterface, QueryRunner } from 'typeorm';

export class Metrics1795638497124 implements MigrationInterface {
    name = 'Metrics1795638497124'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE TABLE "metrics" ("id" bigint GENERATED ALWAYS AS IDENTITY NOT NULL, "vm_id" uuid NOT NULL, "name" character varying(64) NOT NULL, "value" double precision NOT NULL, "unit" character varying(16), "recorded_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL, CONSTRAINT "PK_5283cad666a83376e28a715bf0e" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE INDEX "metrics_recorded_brin" ON "metrics" USING brin ("recorded_at") `);
        await queryRunner.query(`CREATE INDEX "metrics_vm_name_recorded_idx" ON "metrics" ("vm_id", "name", "recorded_at") INCLUDE ("value")`);
        // Insert-only: vacuum after 2% new rows (default 20%) so recent pages get visibility-map bits
        // and series reads stay index-only (bench/metrics-query.ts --no-vacuum shows the cost without).
        await queryRunner.query(`ALTER TABLE "metrics" SET (autovacuum_vacuum_insert_scale_factor = 0.02)`);
        await queryRunner.query(`ALTER TABLE "metrics" ADD CONSTRAINT "FK_e32a98422c8ece0bd7c98cbacdf" FOREIGN KEY ("vm_id") REFERENCES "vms"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "metrics" DROP CONSTRAINT "FK_e32a98422c8ece0bd7c98cbacdf"`);
        await queryRunner.query(`DROP INDEX "public"."metrics_vm_name_recorded_idx"`);
        await queryRunner.query(`DROP INDEX "public"."metrics_recorded_brin"`);
        await queryRunner.query(`DROP TABLE "metrics"`);
    }

}
