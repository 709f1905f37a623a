import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Day-2 operations (issue 22): snapshots of a VM's disk (`vm_snapshots`, gone with their VM), and the
 * VM's pending snapshot operation (`vms.pending_operation`): a snapshot being taken or deleted leaves
 * the VM's status alone but holds its one operation slot. New statuses (resizing, rebuilding,
 * restoring) and ledger kinds (vm_resize, snapshot_create) need no schema change: both are varchar.
 */
export class Day2Operations1796300000000 implements MigrationInterface {
    name = 'Day2Operations1796300000000'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE TABLE "vm_snapshots" ("id" uuid NOT NULL, "vm_id" uuid NOT NULL, "name" character varying(63) NOT NULL, "status" character varying(16) NOT NULL, "size_gb" integer NOT NULL, "cost" integer NOT NULL, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "vm_snapshots_status_check" CHECK ("status" IN ('creating', 'available', 'failed', 'deleting')), CONSTRAINT "vm_snapshots_size_positive" CHECK ("size_gb" > 0), CONSTRAINT "PK_vm_snapshots_id" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE UNIQUE INDEX "vm_snapshots_vm_name_key" ON "vm_snapshots" ("vm_id", "name") `);
        await queryRunner.query(`CREATE INDEX "vm_snapshots_vm_created_idx" ON "vm_snapshots" ("vm_id", "created_at", "id") `);
        await queryRunner.query(`ALTER TABLE "vm_snapshots" ADD CONSTRAINT "FK_vm_snapshots_vm" FOREIGN KEY ("vm_id") REFERENCES "vms"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
        await queryRunner.query(`ALTER TABLE "vms" ADD "pending_operation" character varying(16)`);
        await queryRunner.query(`ALTER TABLE "vms" ADD CONSTRAINT "vms_pending_operation_check" CHECK ("pending_operation" IN ('snapshot_create', 'snapshot_delete'))`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "vms" DROP CONSTRAINT "vms_pending_operation_check"`);
        await queryRunner.query(`ALTER TABLE "vms" DROP COLUMN "pending_operation"`);
        await queryRunner.query(`DROP TABLE "vm_snapshots"`);
    }
}
