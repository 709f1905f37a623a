import { MigrationInterface, QueryRunner } from 'typeorm';

/** A balance has a documented maximum (CreditsService.MAX_BALANCE), far below the integer column's limit. */
export class CreditsMaxBalance1795823287054 implements MigrationInterface {
    name = 'CreditsMaxBalance1795823287054'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "users" ADD CONSTRAINT "users_credits_max" CHECK ("credits" <= 1000000000)`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "users" DROP CONSTRAINT "users_credits_max"`);
    }
}
