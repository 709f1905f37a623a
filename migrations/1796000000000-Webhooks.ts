import { MigrationInterface, QueryRunner } from 'typeorm';

export class Webhooks1796000000000 implements MigrationInterface {
    name = 'Webhooks1796000000000'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE TABLE "webhook_endpoints" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "user_id" uuid NOT NULL, "url" text NOT NULL, "events" character varying(64) array NOT NULL, "scope" character varying(8) NOT NULL DEFAULT 'own', "description" character varying(200), "secret" character varying(100) NOT NULL, "enabled" boolean NOT NULL DEFAULT true, "failing_since" TIMESTAMP(3) WITH TIME ZONE, "last_delivered_at" TIMESTAMP(3) WITH TIME ZONE, "disabled_at" TIMESTAMP(3) WITH TIME ZONE, "disabled_reason" text, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_054c4cfb95223732f5939d2d546" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE INDEX "webhook_endpoints_user_created_idx" ON "webhook_endpoints"  ("user_id", "created_at", "id") `);
        await queryRunner.query(`CREATE TABLE "webhook_deliveries" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "endpoint_id" uuid NOT NULL, "event_id" uuid NOT NULL, "event_type" character varying(64) NOT NULL, "status" character varying(16) NOT NULL DEFAULT 'pending', "attempts" integer NOT NULL DEFAULT '0', "queued" boolean NOT NULL DEFAULT false, "window_started_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), "next_attempt_at" TIMESTAMP(3) WITH TIME ZONE, "delivered_at" TIMESTAMP(3) WITH TIME ZONE, "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_535dd409947fb6d8fc6dfc0112a" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE INDEX "webhook_deliveries_event_idx" ON "webhook_deliveries"  ("event_id") `);
        await queryRunner.query(`CREATE INDEX "webhook_deliveries_endpoint_created_idx" ON "webhook_deliveries"  ("endpoint_id", "created_at", "id") `);
        await queryRunner.query(`CREATE UNIQUE INDEX "webhook_deliveries_endpoint_event_key" ON "webhook_deliveries"  ("endpoint_id", "event_id") `);
        // What the dispatcher has yet to hand to the queue: a few rows at most, however long the log.
        await queryRunner.query(`CREATE INDEX "webhook_deliveries_unqueued_idx" ON "webhook_deliveries" ("created_at") WHERE status = 'pending' AND NOT queued`);
        await queryRunner.query(`CREATE TABLE "webhook_attempts" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "delivery_id" uuid NOT NULL, "attempt" integer NOT NULL, "status_code" integer, "duration_ms" integer NOT NULL, "error" text, "next_attempt_at" TIMESTAMP(3) WITH TIME ZONE, "attempted_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_2de7e7887ad97de459adab62638" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE UNIQUE INDEX "webhook_attempts_delivery_attempt_key" ON "webhook_attempts"  ("delivery_id", "attempt") `);
        await queryRunner.query(`ALTER TABLE "webhook_endpoints" ADD CONSTRAINT "FK_1f1a98a1a1faabacca9aff7ab6e" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
        await queryRunner.query(`ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "FK_0b882c26a9b91c26e6e86b4867c" FOREIGN KEY ("endpoint_id") REFERENCES "webhook_endpoints"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
        await queryRunner.query(`ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "FK_27d1ee90033bdafe0ffe8f1be6f" FOREIGN KEY ("event_id") REFERENCES "events"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
        await queryRunner.query(`ALTER TABLE "webhook_attempts" ADD CONSTRAINT "FK_0d56d91d61b827bb2079c256538" FOREIGN KEY ("delivery_id") REFERENCES "webhook_deliveries"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
        // The outbox: every statement that records events also writes one delivery row per subscribed,
        // enabled endpoint, in the same transaction (an event and its deliveries exist together or not at
        // all), and wakes the dispatchers on commit. An endpoint of scope 'own' gets its owner's events
        // (their feed); one of scope 'all' every event while its owner is an active admin (the admin feed).
        // Patterns: an action, a prefix 'area.*', or '*' (validated by the API: event-patterns.ts).
        await queryRunner.query(`CREATE FUNCTION webhook_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, window_started_at, next_attempt_at, created_at)
  SELECT w.id, e.id, e.action, e.created_at, clock_timestamp(), clock_timestamp()
    FROM new_events e
    JOIN webhook_endpoints w ON w.enabled
     AND ((w.scope = 'own' AND w.user_id = e.user_id)
       OR (w.scope = 'all' AND EXISTS (SELECT 1 FROM users u WHERE u.id = w.user_id AND u.role = 'admin' AND u.is_active)))
   WHERE EXISTS (SELECT 1 FROM unnest(w.events) AS p(pattern)
                  WHERE p.pattern = '*' OR p.pattern = e.action
                     OR (right(p.pattern, 2) = '.*' AND starts_with(e.action, left(p.pattern, -1))));
  IF FOUND THEN
    PERFORM pg_notify('vmapi_webhooks', '');
  END IF;
  RETURN NULL;
END
$$`);
        await queryRunner.query(`CREATE TRIGGER events_webhook_outbox AFTER INSERT ON events REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION webhook_outbox()`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`DROP TRIGGER events_webhook_outbox ON events`);
        await queryRunner.query(`DROP FUNCTION webhook_outbox()`);
        await queryRunner.query(`ALTER TABLE "webhook_attempts" DROP CONSTRAINT "FK_0d56d91d61b827bb2079c256538"`);
        await queryRunner.query(`ALTER TABLE "webhook_deliveries" DROP CONSTRAINT "FK_27d1ee90033bdafe0ffe8f1be6f"`);
        await queryRunner.query(`ALTER TABLE "webhook_deliveries" DROP CONSTRAINT "FK_0b882c26a9b91c26e6e86b4867c"`);
        await queryRunner.query(`ALTER TABLE "webhook_endpoints" DROP CONSTRAINT "FK_1f1a98a1a1faabacca9aff7ab6e"`);
        await queryRunner.query(`DROP INDEX "public"."webhook_attempts_delivery_attempt_key"`);
        await queryRunner.query(`DROP TABLE "webhook_attempts"`);
        await queryRunner.query(`DROP INDEX "public"."webhook_deliveries_unqueued_idx"`);
        await queryRunner.query(`DROP INDEX "public"."webhook_deliveries_endpoint_event_key"`);
        await queryRunner.query(`DROP INDEX "public"."webhook_deliveries_endpoint_created_idx"`);
        await queryRunner.query(`DROP INDEX "public"."webhook_deliveries_event_idx"`);
        await queryRunner.query(`DROP TABLE "webhook_deliveries"`);
        await queryRunner.query(`DROP INDEX "public"."webhook_endpoints_user_created_idx"`);
        await queryRunner.query(`DROP TABLE "webhook_endpoints"`);
    }

}
