import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * Pins where SQL may live (issue 25, "data access has one home per table"): raw statements run only
 * in repositories (`*.repository.ts`), the typed-query helper and database plumbing, and the queue
 * module; pg-boss's tables are touched only by the queue module. A `.query(` anywhere else fails here.
 */
const SRC = join(process.cwd(), 'src');

/** Files outside repositories that may still run raw statements, each for a stated reason. */
const ALLOWED = new Set([
  'database/typed-query.ts', // the one typed entry point
  'database/migrate.ts', // advisory lock around migrations
  'db-check.ts', // scratch database for npm run db:check
  'database/embedded-postgres.ts', // creates the embedded cluster's database
  'database/pg-listener.ts', // LISTEN connection
  'database/prepared.ts', // documentation only
  'queue/queue.service.ts', // pg-boss's own pool
  'queue/queue-schema.ts', // pg-boss schema hardening
  'modules/health/health.service.ts', // SELECT 1 readiness probe
]);

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.spec.ts') ? [path] : [];
  });
}

const files = sources(SRC).map((path) => ({ file: relative(SRC, path).split('\\').join('/'), text: readFileSync(path, 'utf8') }));

describe('data access layout', () => {
  it('finds the sources', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(files.some((f) => f.file === 'modules/vms/vms.repository.ts')).toBe(true);
  });

  it('runs raw SQL (.query) only in repositories and the listed plumbing', () => {
    const offenders = files
      .filter((f) => /\.query\s*[<(]/.test(f.text) && !f.file.endsWith('.repository.ts') && !ALLOWED.has(f.file))
      .map((f) => f.file);
    expect(offenders).toEqual([]);
  });

  it('casts no query result outside repositories and the typed-query helper', () => {
    const cast = /\.query\([^;]*?\)\)?\s+as\s+[A-Z{[]/s;
    const offenders = files
      .filter((f) => cast.test(f.text) && !f.file.endsWith('.repository.ts') && f.file !== 'database/typed-query.ts')
      .map((f) => f.file);
    expect(offenders).toEqual([]);
  });

  it("touches pg-boss's tables only in the queue module", () => {
    const offenders = files
      .filter((f) => /pgboss\.\w+|\$\{QUEUE_SCHEMA\}\./.test(f.text) && !f.file.startsWith('queue/'))
      .map((f) => f.file);
    expect(offenders).toEqual([]);
  });

  it('has one paginator (keysetPage in common/pagination.ts)', () => {
    const offenders = files
      .filter((f) => /next_cursor:\s*rows\.length/.test(f.text) && f.file !== 'common/pagination.ts')
      .map((f) => f.file);
    expect(offenders).toEqual([]);
  });

  it('keeps VmsService at most 9 constructor dependencies', () => {
    const text = files.find((f) => f.file === 'modules/vms/vms.service.ts')!.text;
    const ctor = /constructor\(([\s\S]*?)\)\s*\{\}/.exec(text)![1]!;
    expect(ctor.split(',').filter((p) => /private readonly/.test(p)).length).toBeLessThanOrEqual(9);
  });
});
