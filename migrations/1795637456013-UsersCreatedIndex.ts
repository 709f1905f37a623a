import { MigrationInterface, QueryRunner } from 'typeorm';

export class UsersCreatedIndex1795637456013 implements MigrationInterface {
    name = 'UsersCreatedIndex1795637456013'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE INDEX "users_created_idx" ON "users"  ("created_at", "id") `);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`DROP INDEX "public"."users_created_idx"`);
    }

}
