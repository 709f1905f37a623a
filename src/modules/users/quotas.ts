/**
 * The resources a user's quota limits (users owns each user's own limits; vms checks them when a VM
 * is created, vms/quotas.ts).
 */
export const QUOTA_RESOURCES = ['vms', 'cpu_cores', 'ram_mb'] as const;
export type QuotaResource = (typeof QUOTA_RESOURCES)[number];

export type QuotaLimits = Record<QuotaResource, number>;

/** A user's own quota limits per resource; null: the QUOTA_* default applies. */
export type QuotaOverrides = Record<QuotaResource, number | null>;
