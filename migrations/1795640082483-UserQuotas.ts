import { MigrationInterface, QueryRunner } from 'typeorm';

export class UserQuotas1795640082483 implements MigrationInterface {
    name = 'UserQuotas1795640082483'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "users" ADD "quota_max_vms" integer`);
        await queryRunner.query(`ALTER TABLE "users" ADD "quota_max_cpu_cores" integer`);
        await queryRunner.query(`ALTER TABLE "users" ADD "quota_max_ram_mb" integer`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "users" DROP COLUMN "quota_max_ram_mb"`);
        await queryRunner.query(`ALTER TABLE "users" DROP COLUMN "quota_max_cpu_cores"`);
        await queryRunner.query(`ALTER TABLE "users" DROP COLUMN "quota_max_vms"`);
    }

}
