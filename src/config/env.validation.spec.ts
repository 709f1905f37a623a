import { describe, expect, it } from '@jest/globals';
import { getMetadataStorage } from 'class-validator';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvironmentVariables, parseVagrantEnv, trustedProxies, validateEnv } from './env.validation';

describe('validateEnv', () => {
  it('applies defaults and converts strings from the environment', () => {
    const env = validateEnv({ PORT: '8080', WORKER: 'false', SIMULATOR_FAILURE_RATE: '0.25' });
    expect(env.PORT).toBe(8080);
    expect(env.WORKER).toBe(false);
    expect(env.SIMULATOR_FAILURE_RATE).toBe(0.25);
    expect(env.INITIAL_CREDITS).toBe(100);
    expect(env.VM_PROVIDER).toBe('auto');
    expect(validateEnv({ WORKER: 'true' }).WORKER).toBe(true);
  });

  it('names the variable that is wrong', () => {
    expect(() => validateEnv({ PORT: 'eighty' })).toThrow(/PORT="eighty"/);
    expect(() => validateEnv({ VM_PROVIDER: 'qemu' })).toThrow(/VM_PROVIDER/);
    expect(() => validateEnv({ SIMULATOR_FAILURE_RATE: '2' })).toThrow(/SIMULATOR_FAILURE_RATE/);
    expect(() => validateEnv({ JWT_SECRET: 'short' })).toThrow(/JWT_SECRET must be at least 32 characters/);
  });

  it('reads TRUST_PROXY as a trust proxy list (default: no proxy trusted) and refuses a bad address', () => {
    expect(trustedProxies(validateEnv({}).TRUST_PROXY)).toBe(false);
    expect(trustedProxies(validateEnv({ TRUST_PROXY: '10.0.0.0/8, loopback' }).TRUST_PROXY)).toEqual(['10.0.0.0/8', 'loopback']);
    expect(() => validateEnv({ TRUST_PROXY: '10.0.0.0/99' })).toThrow(/TRUST_PROXY="10.0.0.0\/99"/);
    expect(() => validateEnv({ TRUST_PROXY: 'my-balancer' })).toThrow(/TRUST_PROXY/);
  });

  it('requires JWT_SECRET in production and admin email and password together', () => {
    expect(() => validateEnv({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET: required when NODE_ENV=production/);
    expect(validateEnv({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) }).NODE_ENV).toBe('production');
    expect(() => validateEnv({ ADMIN_EMAIL: 'a@example.com' })).toThrow(/ADMIN_EMAIL and ADMIN_PASSWORD/);
  });

  it('reads the monitoring settings, with schedules limited to even intervals', () => {
    const env = validateEnv({ METRICS_ENABLED: 'false', METRICS_PORT: '0', METRICS_ON_API: 'admin', METRICS_COLLECT_MINUTES: '5', RECONCILE_MINUTES: '0' });
    expect(env).toMatchObject({ METRICS_ENABLED: false, METRICS_PORT: 0, METRICS_ON_API: 'admin', METRICS_COLLECT_MINUTES: 5, RECONCILE_MINUTES: 0 });
    expect(() => validateEnv({ METRICS_ON_API: 'public' })).toThrow(/METRICS_ON_API/);
    expect(validateEnv({})).toMatchObject({
      METRICS_ENABLED: true,
      METRICS_PORT: 9464,
      METRICS_ON_API: 'off',
      METRICS_COLLECT_MINUTES: 1,
      METRICS_RETENTION_DAYS: 30,
      METRICS_PRUNE_MINUTES: 60,
      RECONCILE_MINUTES: 1,
      RECONCILE_STUCK_SECONDS: 3600,
    });
    expect(() => validateEnv({ METRICS_COLLECT_MINUTES: '7' })).toThrow(/METRICS_COLLECT_MINUTES/);
    expect(() => validateEnv({ METRICS_RETENTION_DAYS: '0' })).toThrow(/METRICS_RETENTION_DAYS/);
    expect(() => validateEnv({ RECONCILE_STUCK_SECONDS: '10' })).toThrow(/RECONCILE_STUCK_SECONDS/);
  });

  it('reads the Vagrant host settings: driver, CPU, URI, boot timeout, extra env', () => {
    expect(validateEnv({})).toMatchObject({ VAGRANT_LIBVIRT_DRIVER: 'kvm', VAGRANT_BOOT_TIMEOUT_SECONDS: 300 });
    const env = validateEnv({
      VAGRANT_LIBVIRT_DRIVER: 'qemu',
      VAGRANT_LIBVIRT_CPU_MODE: 'custom',
      VAGRANT_LIBVIRT_CPU_MODEL: 'qemu64',
      VAGRANT_LIBVIRT_URI: 'qemu:///system',
      VAGRANT_BOOT_TIMEOUT_SECONDS: '900',
      VAGRANT_ENV: '{"VAGRANT_HOME":"/srv/vagrant.d"}',
    });
    expect(env).toMatchObject({ VAGRANT_LIBVIRT_DRIVER: 'qemu', VAGRANT_LIBVIRT_CPU_MODE: 'custom', VAGRANT_LIBVIRT_CPU_MODEL: 'qemu64', VAGRANT_BOOT_TIMEOUT_SECONDS: 900 });
    expect(parseVagrantEnv(env.VAGRANT_ENV)).toEqual({ VAGRANT_HOME: '/srv/vagrant.d' });
    expect(parseVagrantEnv(undefined)).toEqual({});
  });

  it.each([
    [{ VAGRANT_LIBVIRT_DRIVER: 'xen' }, /VAGRANT_LIBVIRT_DRIVER/],
    [{ VAGRANT_LIBVIRT_CPU_MODE: 'maximum' }, /VAGRANT_LIBVIRT_CPU_MODE/],
    [{ VAGRANT_LIBVIRT_CPU_MODE: 'custom', VAGRANT_LIBVIRT_CPU_MODEL: "qemu64'" }, /VAGRANT_LIBVIRT_CPU_MODEL must be a CPU model name/],
    [{ VAGRANT_LIBVIRT_CPU_MODEL: 'qemu64' }, /VAGRANT_LIBVIRT_CPU_MODEL: needs VAGRANT_LIBVIRT_CPU_MODE=custom/],
    [{ VAGRANT_LIBVIRT_URI: 'not a uri' }, /VAGRANT_LIBVIRT_URI must be a libvirt URI/],
    [{ VAGRANT_BOOT_TIMEOUT_SECONDS: '0' }, /VAGRANT_BOOT_TIMEOUT_SECONDS/],
    [{ VAGRANT_ENV: '{' }, /VAGRANT_ENV: not valid JSON/],
    [{ VAGRANT_ENV: '["A=1"]' }, /VAGRANT_ENV: must be a JSON object/],
    [{ VAGRANT_ENV: '{"A B":"1"}' }, /VAGRANT_ENV: "A B" is not an environment variable name/],
    [{ VAGRANT_ENV: '{"A":1}' }, /VAGRANT_ENV: A must be a string/],
  ])('refuses the Vagrant setting %j', (raw, message) => {
    expect(() => validateEnv(raw)).toThrow(message);
  });

  it('reads DATABASE_URL, JWT_SECRET and ADMIN_PASSWORD from <NAME>_FILE (secrets files), validated like the value', () => {
    const dir = mkdtempSync(join(tmpdir(), 'env-secrets-'));
    const file = (name: string, content: string) => (writeFileSync(join(dir, name), content), join(dir, name));
    const env = validateEnv({
      NODE_ENV: 'production',
      JWT_SECRET_FILE: file('jwt', 'x'.repeat(40) + '\n'),
      DATABASE_URL_FILE: file('db', 'postgres://vmapi:s3cret@db:5432/vmapi\n'),
      ADMIN_EMAIL: 'root@example.test',
      ADMIN_PASSWORD_FILE: file('admin', 'bootstrap-pass'),
    });
    expect(env.JWT_SECRET).toBe('x'.repeat(40));
    expect(env.DATABASE_URL).toBe('postgres://vmapi:s3cret@db:5432/vmapi');
    expect(env.ADMIN_PASSWORD).toBe('bootstrap-pass');
    expect(() => validateEnv({ JWT_SECRET_FILE: file('short', 'too-short') })).toThrow(/JWT_SECRET=<hidden>: JWT_SECRET must be at least 32 characters/);
    expect(() => validateEnv({ JWT_SECRET: 'y'.repeat(40), JWT_SECRET_FILE: file('jwt2', 'x'.repeat(40)) })).toThrow(/JWT_SECRET and JWT_SECRET_FILE are both set/);
    // A missing file names the variable and the path, never a content.
    expect(() => validateEnv({ JWT_SECRET_FILE: join(dir, 'absent') })).toThrow(/JWT_SECRET_FILE=".*absent": ENOENT/);
  });

  it('ignores unrelated environment variables', () => {
    expect(() => validateEnv({ PATH: '/usr/bin', HOME: '/root' })).not.toThrow();
  });
});

describe('settings documentation', () => {
  // Every setting the app validates (each has at least one class-validator decorator). Jest runs from the repository root.
  const settings = [...new Set(getMetadataStorage().getTargetValidationMetadatas(EnvironmentVariables, '', false, false).map((m) => m.propertyName))].sort();

  it('finds the settings', () => {
    expect(settings).toEqual(expect.arrayContaining(['PORT', 'DATABASE_URL', 'JWT_SECRET', 'EMBEDDED_PG_PORT', 'RATE_LIMIT_PER_MIN']));
    expect(settings.length).toBeGreaterThan(60);
  });

  it('names every setting in the README', () => {
    const readme = readFileSync('README.md', 'utf8');
    expect(settings.filter((name) => !readme.includes(`\`${name}\``))).toEqual([]);
  });

  it('lists every setting in .env.example (set or commented out)', () => {
    const example = readFileSync('.env.example', 'utf8');
    expect(settings.filter((name) => !new RegExp(`^#? ?${name}=`, 'm').test(example))).toEqual([]);
  });
});
