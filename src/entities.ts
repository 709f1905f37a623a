import { CreditTransaction } from './modules/credits/entities/credit-transaction.entity';
import { Host } from './modules/hosts/entities/host.entity';
import { Event } from './modules/events/entities/event.entity';
import { IdempotencyKey } from './modules/idempotency/entities/idempotency-key.entity';
import { Metric } from './modules/metrics/entities/metric.entity';
import { PeriodicRun } from './queue/entities/periodic-run.entity';
import { SshKey } from './modules/ssh-keys/entities/ssh-key.entity';
import { ApiToken } from './modules/tokens/entities/api-token.entity';
import { RevokedToken } from './modules/users/entities/revoked-token.entity';
import { User } from './modules/users/entities/user.entity';
import { Vm } from './modules/vms/entities/vm.entity';
import { VmSnapshot } from './modules/vms/entities/vm-snapshot.entity';
import { WebhookAttempt } from './modules/webhooks/entities/webhook-attempt.entity';
import { WebhookDelivery } from './modules/webhooks/entities/webhook-delivery.entity';
import { WebhookEndpoint } from './modules/webhooks/entities/webhook-endpoint.entity';

/**
 * Every entity, listed explicitly (no globs) and here at the root, above the features: the app, the
 * TypeORM CLI, db:check and the tests share this list; database/ never imports a feature.
 */
export const ENTITIES = [
  User,
  CreditTransaction,
  Event,
  Vm,
  Metric,
  IdempotencyKey,
  SshKey,
  Host,
  RevokedToken,
  ApiToken,
  WebhookEndpoint,
  WebhookDelivery,
  WebhookAttempt,
  VmSnapshot,
  PeriodicRun,
];
