import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Idempotency keys are now claimed and answered inside the transaction of the work they answer, so
 * an unanswered key is never committed again. Rows without an answer are what requests that died
 * mid-flight left under the old scheme (they would answer 409 for 24 h): freed, so their retries run.
 */
export class IdempotencyAnswerWithWork1795823250000 implements MigrationInterface {
    name = 'IdempotencyAnswerWithWork1795823250000'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`DELETE FROM "idempotency_keys" WHERE "response_status" IS NULL`);
    }

    public async down(): Promise<void> {
        // Nothing to restore: the deleted rows were stuck claims.
    }
}
