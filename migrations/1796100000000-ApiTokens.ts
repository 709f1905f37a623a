import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Personal access tokens (`api_tokens`): scopes, expiry, last use and the SHA-256 of the secret (never
 * the secret). A token is resolved through its user's identity (UsersService.findActiveIdentity lists
 * the user's live tokens), so the trigger here NOTIFYs the user's id on the users channel whenever a
 * token is created, revoked (deleted), or its scopes, expiry or owner change, whoever makes the change:
 * every API process drops its cached identity and re-checks that user's open event streams. Writes of
 * last_used_at name no such column and notify nothing.
 */
export class ApiTokens1796100000000 implements MigrationInterface {
    name = 'ApiTokens1796100000000'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE TABLE "api_tokens" ("id" uuid NOT NULL, "user_id" uuid NOT NULL, "name" character varying(64) NOT NULL, "token_hash" character(64) NOT NULL, "scopes" character varying(32) array NOT NULL, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), "expires_at" TIMESTAMP(3) WITH TIME ZONE, "last_used_at" TIMESTAMP(3) WITH TIME ZONE, CONSTRAINT "PK_api_tokens_id" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE UNIQUE INDEX "api_tokens_hash_key" ON "api_tokens" ("token_hash") `);
        await queryRunner.query(`CREATE INDEX "api_tokens_user_created_idx" ON "api_tokens" ("user_id", "created_at", "id") `);
        await queryRunner.query(`ALTER TABLE "api_tokens" ADD CONSTRAINT "FK_api_tokens_user" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);

        await queryRunner.query(`CREATE FUNCTION "api_tokens_changed"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    PERFORM pg_notify('vmapi_users', OLD.user_id::text);
  END IF;
  IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.user_id IS DISTINCT FROM OLD.user_id) THEN
    PERFORM pg_notify('vmapi_users', NEW.user_id::text);
  END IF;
  RETURN NULL;
END $$`);
        await queryRunner.query(`CREATE TRIGGER "api_tokens_changed" AFTER INSERT OR DELETE OR UPDATE OF "user_id", "scopes", "expires_at" ON "api_tokens" FOR EACH ROW EXECUTE FUNCTION "api_tokens_changed"()`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`DROP TRIGGER "api_tokens_changed" ON "api_tokens"`);
        await queryRunner.query(`DROP FUNCTION "api_tokens_changed"()`);
        await queryRunner.query(`ALTER TABLE "api_tokens" DROP CONSTRAINT "FK_api_tokens_user"`);
        await queryRunner.query(`DROP INDEX "public"."api_tokens_user_created_idx"`);
        await queryRunner.query(`DROP INDEX "public"."api_tokens_hash_key"`);
        await queryRunner.query(`DROP TABLE "api_tokens"`);
    }
}
