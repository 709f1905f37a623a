import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

type Bounds = { minimum: number; maximum: number };
/** The forms' limits come from the contract (CreateVmDto, CreateSnapshotDto in openapi.json), never a copy. */
function vmLimits() {
  const doc = JSON.parse(readFileSync(here('../openapi.json'), 'utf8'));
  const props = doc.components.schemas.CreateVmDto.properties as Record<string, Bounds & { pattern?: string; maxLength?: number }>;
  const snapshot = doc.components.schemas.CreateSnapshotDto.properties as Record<string, { pattern: string; maxLength: number }>;
  const bounds = (name: string) => ({ min: props[name].minimum, max: props[name].maximum });
  return {
    ram_mb: bounds('ram_mb'),
    disk_gb: bounds('disk_gb'),
    cpu_cores: bounds('cpu_cores'),
    name: { pattern: props.name.pattern, maxLength: props.name.maxLength },
    snapshot_name: { pattern: snapshot.name.pattern, maxLength: snapshot.name.maxLength },
  };
}

export default defineConfig({
  root: here('.'),
  base: '/',
  resolve: { alias: { '@vm-platform/sdk': here('../sdk/index.ts') } },
  define: { __VM_LIMITS__: JSON.stringify(vmLimits()) },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: here('../dist/web'),
    emptyOutDir: true,
    target: 'es2022',
    // Served with a strict CSP (script-src 'self'): no inline module preload polyfill.
    modulePreload: { polyfill: false },
  },
  // `npm run dev:web`: the console with hot reload, calling the API started by `npm run start:dev`.
  server: { proxy: { '/api': 'http://localhost:3000' } },
});
