import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Ending tokens before they expire. `users.token_version` is in every token (`ver`): a token of an older
 * version no longer grants access. It goes up on a password change and on an admin "sign out
 * everywhere", and (trigger, so whoever changes it: the API, a script, psql) whenever password_hash
 * changes. `revoked_tokens` holds single tokens ended by logout (their `jti`) until they would have
 * expired anyway. Both reach every API process through the users NOTIFY channel, which the identity
 * cache and the event streams already listen on: the notify trigger now also fires on password_hash
 * and token_version, and a revocation NOTIFYs its user.
 */
export class TokenLifecycle1795830000000 implements MigrationInterface {
    name = 'TokenLifecycle1795830000000'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "users" ADD "token_version" integer NOT NULL DEFAULT 0`);
        await queryRunner.query(`CREATE TABLE "revoked_tokens" ("jti" character varying(64) NOT NULL, "user_id" uuid NOT NULL, "expires_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL, CONSTRAINT "PK_revoked_tokens_jti" PRIMARY KEY ("jti"))`);
        await queryRunner.query(`CREATE INDEX "revoked_tokens_user_idx" ON "revoked_tokens" ("user_id")`);
        await queryRunner.query(`CREATE INDEX "revoked_tokens_expires_idx" ON "revoked_tokens" ("expires_at")`);
        await queryRunner.query(`ALTER TABLE "revoked_tokens" ADD CONSTRAINT "FK_revoked_tokens_user" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);

        await queryRunner.query(`CREATE FUNCTION "users_password_changed"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.token_version := OLD.token_version + 1;
  RETURN NEW;
END $$`);
        await queryRunner.query(`CREATE TRIGGER "users_password_changed" BEFORE UPDATE OF "password_hash" ON "users" FOR EACH ROW WHEN (OLD."password_hash" IS DISTINCT FROM NEW."password_hash") EXECUTE FUNCTION "users_password_changed"()`);

        // UPDATE OF lists the columns a statement names: a password reset names password_hash only.
        await queryRunner.query(`DROP TRIGGER "users_identity_changed" ON "users"`);
        await queryRunner.query(`CREATE TRIGGER "users_identity_changed" AFTER UPDATE OF "role", "is_active", "username", "email", "password_hash", "token_version" OR DELETE ON "users" FOR EACH ROW EXECUTE FUNCTION "users_identity_changed"()`);

        await queryRunner.query(`CREATE FUNCTION "revoked_tokens_added"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('vmapi_users', NEW.user_id::text);
  RETURN NULL;
END $$`);
        await queryRunner.query(`CREATE TRIGGER "revoked_tokens_added" AFTER INSERT ON "revoked_tokens" FOR EACH ROW EXECUTE FUNCTION "revoked_tokens_added"()`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`DROP TRIGGER "revoked_tokens_added" ON "revoked_tokens"`);
        await queryRunner.query(`DROP FUNCTION "revoked_tokens_added"()`);
        await queryRunner.query(`DROP TRIGGER "users_identity_changed" ON "users"`);
        await queryRunner.query(`CREATE TRIGGER "users_identity_changed" AFTER UPDATE OF "role", "is_active", "username", "email" OR DELETE ON "users" FOR EACH ROW EXECUTE FUNCTION "users_identity_changed"()`);
        await queryRunner.query(`DROP TRIGGER "users_password_changed" ON "users"`);
        await queryRunner.query(`DROP FUNCTION "users_password_changed"()`);
        await queryRunner.query(`DROP TABLE "revoked_tokens"`);
        await queryRunner.query(`ALTER TABLE "users" DROP COLUMN "token_version"`);
    }
}
