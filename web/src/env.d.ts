/// <reference types="vite/client" />
/** Injected by vite.config.mts from openapi.json (CreateVmDto, CreateSnapshotDto). */
declare const __VM_LIMITS__: {
  ram_mb: { min: number; max: number };
  disk_gb: { min: number; max: number };
  cpu_cores: { min: number; max: number };
  name: { pattern: string; maxLength: number };
  snapshot_name: { pattern: string; maxLength: number };
};
