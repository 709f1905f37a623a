/**
 * The price of a snapshot: max(1, ceil(disk_gb / 10 * SNAPSHOT_CREDITS_PER_10GB)) credits, from the
 * VM's disk size when it is taken. Rounded to micro-credits before the ceiling, so a product that
 * floating point lands a hair above a whole number (3 * 0.1 * 10) is not charged one credit more.
 */
export function snapshotPrice(diskGb: number, creditsPer10Gb: number): number {
  const exact = Math.round((diskGb / 10) * creditsPer10Gb * 1e6) / 1e6;
  return Math.max(1, Math.ceil(exact));
}

/**
 * The price of a resize: the new cost by the create formula minus the old one, charged when positive;
 * a smaller VM refunds nothing (the no-refund rule). `cost` is what the VM's `cost` becomes.
 */
export function resizePrice(oldCost: number, newCost: number): { charge: number; cost: number } {
  return { charge: Math.max(0, newCost - oldCost), cost: newCost };
}
