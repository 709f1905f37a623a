import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { eventually } from '../support/factories';
import { createTestApp, TestContext } from '../support/test-app';

describe('logs never carry passwords, hashes or tokens (e2e)', () => {
  const logs: string[] = [];
  let ctx: TestContext;

  beforeAll(async () => {
    ctx = await createTestApp({
      captureLogs: logs,
      env: { LOG_LEVEL: 'debug', SIMULATOR_FAILURE_RATE: 1, ADMIN_EMAIL: 'boot@example.test', ADMIN_PASSWORD: 'Bootstrap-Secret-77' },
    });
  });
  afterAll(async () => {
    await ctx.close();
  });

  it('logs the activity but none of the secrets it handled', async () => {
    const password = 'Sup3r-Secret-Pa55word';
    await ctx.http.post('/api/auth/register').send({ username: 'loggy', email: 'loggy@example.com', password }).expect(202);
    await ctx.http.post('/api/auth/login').send({ email: 'loggy@example.com', password: 'Wrong-Secret-Guess' }).expect(401);
    const login = await ctx.http.post('/api/auth/login').send({ email: 'loggy@example.com', password }).expect(200);
    const token = login.body.access_token as string;
    const auth = { Authorization: `Bearer ${token}` };
    const vm = await ctx.http
      .post('/api/vms')
      .set(auth)
      .send({ name: 'noisy', os_type: 'debian-12', ram_mb: 512, disk_gb: 10, cpu_cores: 1 })
      .expect(202);
    await eventually(async () => (await ctx.http.get(`/api/vms/${vm.body.id}`).set(auth)).body.status === 'failed');
    await ctx.http.get('/api/users/me').set('Authorization', `Bearer ${token}x`).expect(401);
    const [{ password_hash }] = await ctx.db.query(`SELECT password_hash FROM users WHERE username = 'loggy'`);

    const all = logs.join('\n');
    expect(all).toContain('VmWorker'); // the capture works: the failed provisioning was logged
    for (const secret of [
      password,
      'Wrong-Secret-Guess',
      'Bootstrap-Secret-77',
      token,
      token.split('.')[2],
      password_hash,
      'test-secret-that-is-at-least-32-characters',
    ]) {
      expect({ secret: secret.slice(0, 12), leaked: all.includes(secret) }).toEqual({ secret: secret.slice(0, 12), leaked: false });
    }
  });
});
