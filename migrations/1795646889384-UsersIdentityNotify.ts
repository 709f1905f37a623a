import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Written by hand (TypeORM does not generate triggers). Any change to what a token resolves to
 * (role, active flag, username, email) or the user's deletion NOTIFYs the user id on commit, whoever
 * made it: the API, a script or psql. API processes drop their cached identity of that user.
 * Balance updates do not name these columns, so they do not fire it.
 */
export class UsersIdentityNotify1795646889384 implements MigrationInterface {
    name = 'UsersIdentityNotify1795646889384'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE FUNCTION "users_identity_changed"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('vmapi_users', OLD.id::text);
  RETURN NULL;
END $$`);
        await queryRunner.query(`CREATE TRIGGER "users_identity_changed" AFTER UPDATE OF "role", "is_active", "username", "email" OR DELETE ON "users" FOR EACH ROW EXECUTE FUNCTION "users_identity_changed"()`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`DROP TRIGGER "users_identity_changed" ON "users"`);
        await queryRunner.query(`DROP FUNCTION "users_identity_changed"()`);
    }

}
