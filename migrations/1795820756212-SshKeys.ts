import { MigrationInterface, QueryRunner } from 'typeorm';

export class SshKeys1795820756212 implements MigrationInterface {
    name = 'SshKeys1795820756212'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE TABLE "ssh_keys" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "user_id" uuid NOT NULL, "name" character varying(64) NOT NULL, "type" character varying(32) NOT NULL, "bits" integer NOT NULL, "fingerprint" character varying(64) NOT NULL, "public_key" text NOT NULL, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_8d68194272e979ab2d77700b1a4" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE INDEX "ssh_keys_user_created_idx" ON "ssh_keys"  ("user_id", "created_at", "id") `);
        await queryRunner.query(`CREATE UNIQUE INDEX "ssh_keys_user_fingerprint_key" ON "ssh_keys"  ("user_id", "fingerprint") `);
        await queryRunner.query(`CREATE UNIQUE INDEX "ssh_keys_user_name_key" ON "ssh_keys"  ("user_id", "name") `);
        await queryRunner.query(`ALTER TABLE "ssh_keys" ADD CONSTRAINT "FK_db5e50d55c54341ee29fd71fb01" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
        // What a VM was created with (a snapshot: deleting a key later changes no VM), and the guest account they are for.
        await queryRunner.query(`ALTER TABLE "vms" ADD "ssh_keys" jsonb NOT NULL DEFAULT '[]'`);
        await queryRunner.query(`ALTER TABLE "vms" ADD "ssh_user" character varying(32) NOT NULL DEFAULT 'vmuser'`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "vms" DROP COLUMN "ssh_user"`);
        await queryRunner.query(`ALTER TABLE "vms" DROP COLUMN "ssh_keys"`);
        await queryRunner.query(`ALTER TABLE "ssh_keys" DROP CONSTRAINT "FK_db5e50d55c54341ee29fd71fb01"`);
        await queryRunner.query(`DROP INDEX "public"."ssh_keys_user_name_key"`);
        await queryRunner.query(`DROP INDEX "public"."ssh_keys_user_fingerprint_key"`);
        await queryRunner.query(`DROP INDEX "public"."ssh_keys_user_created_idx"`);
        await queryRunner.query(`DROP TABLE "ssh_keys"`);
    }

}
