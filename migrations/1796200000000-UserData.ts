import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * First-boot user data (issue 22): the script a VM was created with (`user_data`, at most 64 KiB,
 * never selected with the rest of the row), its size, and how its run went (`user_data_status`:
 * none, pending until the first boot reports, then succeeded or failed).
 */
export class UserData1796200000000 implements MigrationInterface {
    name = 'UserData1796200000000'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "vms" ADD "user_data" text`);
        await queryRunner.query(`ALTER TABLE "vms" ADD "user_data_size" integer`);
        await queryRunner.query(`ALTER TABLE "vms" ADD "user_data_status" character varying(16) NOT NULL DEFAULT 'none'`);
        await queryRunner.query(`ALTER TABLE "vms" ADD CONSTRAINT "vms_user_data_status_check" CHECK ("user_data_status" IN ('none', 'pending', 'succeeded', 'failed'))`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "vms" DROP CONSTRAINT "vms_user_data_status_check"`);
        await queryRunner.query(`ALTER TABLE "vms" DROP COLUMN "user_data_status"`);
        await queryRunner.query(`ALTER TABLE "vms" DROP COLUMN "user_data_size"`);
        await queryRunner.query(`ALTER TABLE "vms" DROP COLUMN "user_data"`);
    }
}
