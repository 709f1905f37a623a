import { MigrationInterface, QueryRunner } from 'typeorm';

export class Initial1795636652019 implements MigrationInterface {
    name = 'Initial1795636652019'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE TABLE "users" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "username" character varying(32) NOT NULL, "email" character varying(254) NOT NULL, "password_hash" character varying(255) NOT NULL, "role" character varying(16) NOT NULL DEFAULT 'user', "credits" integer NOT NULL DEFAULT '0', "is_active" boolean NOT NULL DEFAULT true, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_fe0bb3f6520ee0469504521e710" UNIQUE ("username"), CONSTRAINT "users_credits_non_negative" CHECK ("credits" >= 0), CONSTRAINT "PK_a3ffb1c0c8416b9fc6f907b7433" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE TABLE "credit_transactions" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "user_id" uuid NOT NULL, "amount" integer NOT NULL, "balance_after" integer NOT NULL, "kind" character varying(32) NOT NULL, "reason" character varying(500), "vm_id" uuid, "actor_id" uuid, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_a408319811d1ab32832ec86fc2c" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE INDEX "credit_transactions_user_created_idx" ON "credit_transactions"  ("user_id", "created_at", "id") `);
        await queryRunner.query(`CREATE TABLE "events" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "type" character varying(16) NOT NULL, "action" character varying(64) NOT NULL, "severity" character varying(16) NOT NULL DEFAULT 'info', "message" text NOT NULL, "details" jsonb NOT NULL, "user_id" uuid, "vm_id" uuid, "actor_id" uuid, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_40731c7151fe4be3116e45ddf73" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE INDEX "events_created_idx" ON "events"  ("created_at", "id") `);
        await queryRunner.query(`CREATE INDEX "events_vm_created_idx" ON "events"  ("vm_id", "created_at", "id") `);
        await queryRunner.query(`CREATE INDEX "events_user_created_idx" ON "events"  ("user_id", "created_at", "id") `);
        // Emails are unique case-insensitively; TypeORM cannot express an expression index.
        await queryRunner.query(`CREATE UNIQUE INDEX "users_email_lower_key" ON "users" (lower("email"))`);
        await queryRunner.query(`ALTER TABLE "credit_transactions" ADD CONSTRAINT "FK_9ac41a5292ef4d8356a86be30c2" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "credit_transactions" DROP CONSTRAINT "FK_9ac41a5292ef4d8356a86be30c2"`);
        await queryRunner.query(`DROP INDEX "public"."users_email_lower_key"`);
        await queryRunner.query(`DROP INDEX "public"."events_user_created_idx"`);
        await queryRunner.query(`DROP INDEX "public"."events_vm_created_idx"`);
        await queryRunner.query(`DROP INDEX "public"."events_created_idx"`);
        await queryRunner.query(`DROP TABLE "events"`);
        await queryRunner.query(`DROP INDEX "public"."credit_transactions_user_created_idx"`);
        await queryRunner.query(`DROP TABLE "credit_transactions"`);
        await queryRunner.query(`DROP TABLE "users"`);
    }

}
