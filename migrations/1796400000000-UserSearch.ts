import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The admin's user search (`GET /api/admin/users?q=`): a case-insensitive substring of the email or
 * the username, served by trigram GIN indexes (pg_trgm, in PostgreSQL's contrib and in the embedded
 * server; a trusted extension since PostgreSQL 13, so the database's owner can create it). The same
 * indexes serve the email_prefix and username_prefix filters (LIKE 'x%').
 */
export class UserSearch1796400000000 implements MigrationInterface {
    name = 'UserSearch1796400000000'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE EXTENSION IF NOT EXISTS pg_trgm`);
        await queryRunner.query(`CREATE INDEX "users_email_trgm_idx" ON "users" USING gin (lower("email") gin_trgm_ops)`);
        await queryRunner.query(`CREATE INDEX "users_username_trgm_idx" ON "users" USING gin ("username" gin_trgm_ops)`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`DROP INDEX "public"."users_username_trgm_idx"`);
        await queryRunner.query(`DROP INDEX "public"."users_email_trgm_idx"`);
    }

}
