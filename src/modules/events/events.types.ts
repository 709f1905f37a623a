import type { EventSeverity, EventType } from './entities/event.entity';

/** Every event the platform records: action name -> its type and default severity. */
export const EVENT_ACTIONS = {
  'auth.register': { type: 'auth', severity: 'info' },
  'auth.login': { type: 'auth', severity: 'info' },
  'auth.login_failed': { type: 'auth', severity: 'warning' },
  'auth.logout': { type: 'auth', severity: 'info' },
  'auth.password_changed': { type: 'auth', severity: 'info' },
  'auth.password_change_failed': { type: 'auth', severity: 'warning' },
  'auth.register_existing_email': { type: 'auth', severity: 'info' },
  'auth.ssh_key_added': { type: 'auth', severity: 'info' },
  'auth.ssh_key_deleted': { type: 'auth', severity: 'info' },
  'auth.token_created': { type: 'auth', severity: 'info' },
  'auth.token_revoked': { type: 'auth', severity: 'info' },
  'vm.create': { type: 'vm', severity: 'info' },
  'vm.provisioned': { type: 'vm', severity: 'info' },
  'vm.provision_failed': { type: 'vm', severity: 'critical' },
  'vm.action_requested': { type: 'vm', severity: 'info' },
  'vm.started': { type: 'vm', severity: 'info' },
  'vm.stopped': { type: 'vm', severity: 'info' },
  'vm.restarted': { type: 'vm', severity: 'info' },
  'vm.destroyed': { type: 'vm', severity: 'info' },
  'vm.operation_failed': { type: 'vm', severity: 'critical' },
  'vm.metadata_updated': { type: 'vm', severity: 'info' },
  'vm.renamed': { type: 'vm', severity: 'info' },
  'vm.user_data_finished': { type: 'vm', severity: 'info' },
  'vm.resized': { type: 'vm', severity: 'info' },
  'vm.rebuilt': { type: 'vm', severity: 'info' },
  'vm.snapshot_requested': { type: 'vm', severity: 'info' },
  'vm.snapshot_created': { type: 'vm', severity: 'info' },
  'vm.snapshot_failed': { type: 'vm', severity: 'critical' },
  'vm.snapshot_delete_requested': { type: 'vm', severity: 'info' },
  'vm.snapshot_deleted': { type: 'vm', severity: 'info' },
  'vm.snapshot_restore_requested': { type: 'vm', severity: 'info' },
  'vm.snapshot_restored': { type: 'vm', severity: 'info' },
  'vm.stuck_failed': { type: 'vm', severity: 'critical' },
  'vm.host_offline': { type: 'vm', severity: 'warning' },
  'system.credit_deduction': { type: 'system', severity: 'info' },
  'system.credit_grant': { type: 'system', severity: 'info' },
  'system.status_drift': { type: 'system', severity: 'warning' },
  'system.host_offline': { type: 'system', severity: 'warning' },
  'admin.vm_action': { type: 'admin', severity: 'info' },
  'admin.credit_adjustment': { type: 'admin', severity: 'info' },
  'admin.user_updated': { type: 'admin', severity: 'info' },
  'admin.user_signed_out': { type: 'admin', severity: 'info' },
  'admin.bootstrap': { type: 'admin', severity: 'info' },
  'admin.host_updated': { type: 'admin', severity: 'info' },
  'webhook.created': { type: 'auth', severity: 'info' },
  'webhook.updated': { type: 'auth', severity: 'info' },
  'webhook.deleted': { type: 'auth', severity: 'info' },
  'webhook.disabled': { type: 'system', severity: 'warning' },
} as const satisfies Record<string, { type: EventType; severity: EventSeverity }>;

export type EventAction = keyof typeof EVENT_ACTIONS;

export interface RecordEventInput {
  action: EventAction;
  message: string;
  /** Overrides the action's default severity. */
  severity?: EventSeverity;
  details?: Record<string, unknown>;
  userId?: string | null;
  vmId?: string | null;
  actorId?: string | null;
}

/** The PostgreSQL NOTIFY channel on which every recorded event is announced (see EventStreamService). */
export const EVENTS_CHANNEL = 'vmapi_events';

/** A notification's payload: small (NOTIFY payloads are limited to 8000 bytes); streams read the row. */
export interface EventNotice {
  id: string;
  /** The event's user_id: streams skip the read when no subscriber of this process wants it. */
  u: string | null;
}
