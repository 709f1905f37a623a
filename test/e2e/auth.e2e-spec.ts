import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { JwtService } from '@nestjs/jwt';
import { argon2Parameters, eventually, newUser } from '../support/factories';
import { createTestApp, TestContext } from '../support/test-app';

describe('auth and users (e2e)', () => {
  let ctx: TestContext;

  beforeAll(async () => {
    ctx = await createTestApp({ env: { INITIAL_CREDITS: 100 } });
  });
  afterAll(async () => {
    await ctx.close();
  });

  describe('password hashing', () => {
    it('hashes at the cheapest argon2id settings in tests (password-hashing.e2e-spec.ts checks the production default)', async () => {
      await ctx.http
        .post('/api/auth/register')
        .send({ username: 'cheap', email: 'cheap@example.com', password: 'long enough' })
        .expect(202);
      const [{ password_hash } = { password_hash: '' }] = await ctx.db.query<{ password_hash: string }[]>(
        `SELECT password_hash FROM users WHERE username = 'cheap'`,
      );
      expect(argon2Parameters(password_hash)).toEqual({ type: 'argon2id', m: 1024, t: 1, p: 4 });
      await ctx.http.post('/api/auth/login').send({ email: 'cheap@example.com', password: 'long enough' }).expect(200);
    });
  });

  describe('POST /api/auth/register', () => {
    it('creates a user with the signup grant on the ledger, in one go, and answers 202 with no account details', async () => {
      const res = await ctx.http
        .post('/api/auth/register')
        .send({ username: 'grace', email: 'Grace@Example.com', password: 'long enough' })
        .expect(202);
      expect(res.body).toEqual({ status: 'accepted', message: expect.any(String) });
      const [user] = await ctx.db.query(`SELECT id, email, role, credits, is_active, password_hash FROM users WHERE username = 'grace'`);
      expect(user).toMatchObject({ email: 'Grace@Example.com', role: 'user', credits: 100, is_active: true });
      expect(user.password_hash).toMatch(/^\$argon2id\$/);
      const ledger = await ctx.db.query('SELECT amount, balance_after, kind FROM credit_transactions WHERE user_id = $1', [user.id]);
      expect(ledger).toEqual([{ amount: 100, balance_after: 100, kind: 'signup_grant' }]);
      const events = await ctx.db.query(`SELECT action, details FROM events WHERE user_id = $1 ORDER BY created_at`, [user.id]);
      expect(events.map((e: { action: string }) => e.action).sort()).toEqual(['auth.register', 'system.credit_grant']);
      expect(JSON.stringify(events)).not.toContain('long enough');
    });

    it('answers a duplicate email (any letter case) like a new one and changes nothing; a duplicate username is 409', async () => {
      await ctx.http.post('/api/auth/register').send({ username: 'dup1', email: 'dup@example.com', password: 'password1' }).expect(202);
      const byEmail = await ctx.http
        .post('/api/auth/register')
        .send({ username: 'dup2', email: 'DUP@example.COM', password: 'password2' })
        .expect(202);
      expect(byEmail.body).toEqual({ status: 'accepted', message: expect.any(String) });
      expect(await ctx.db.query(`SELECT 1 FROM users WHERE username = 'dup2'`)).toHaveLength(0);
      await ctx.http.post('/api/auth/login').send({ email: 'dup@example.com', password: 'password1' }).expect(200);
      await ctx.http.post('/api/auth/login').send({ email: 'dup@example.com', password: 'password2' }).expect(401);
      const byName = await ctx.http
        .post('/api/auth/register')
        .send({ username: 'dup1', email: 'other@example.com', password: 'password1' })
        .expect(409);
      expect(byName.body.code).toBe('user.username_taken');
    });

    it('lets exactly one of two simultaneous registrations with one email through, answering all alike', async () => {
      const body = (n: number) => ({ username: `race${n}`, email: 'race@example.com', password: 'password1' });
      const results = await Promise.all([1, 2, 3].map((n) => ctx.http.post('/api/auth/register').send(body(n))));
      expect(results.map((r) => r.status)).toEqual([202, 202, 202]);
      expect(await ctx.db.query(`SELECT 1 FROM users WHERE lower(email) = 'race@example.com'`)).toHaveLength(1);
    });

    it.each([
      [{ username: 'ab', email: 'a@example.com', password: 'password1' }, 'username'],
      [{ username: 'valid', email: 'not-an-email', password: 'password1' }, 'email'],
      [{ username: 'valid', email: 'a@example.com', password: 'short' }, 'password'],
      [{ username: 'Has Space', email: 'a@example.com', password: 'password1' }, 'username'],
      [{ username: 'valid', email: 'a@example.com', password: 12345678 }, 'password'],
    ])('answers 400 naming the failing field (%j)', async (body, field) => {
      const res = await ctx.http.post('/api/auth/register').send(body).expect(400);
      expect(res.body.code).toBe('request.validation');
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    });

    it('rejects a role in the body (unknown fields are 400, never stored)', async () => {
      const res = await ctx.http
        .post('/api/auth/register')
        .send({ username: 'sneaky', email: 'sneaky@example.com', password: 'password1', role: 'admin' })
        .expect(400);
      expect(res.body.errors).toEqual([{ field: 'role', messages: ['property role should not exist'] }]);
      const rows = await ctx.db.query(`SELECT 1 FROM users WHERE username = 'sneaky'`);
      expect(rows).toHaveLength(0);
    });

    it('answers 400 problem+json for malformed JSON', async () => {
      const res = await ctx.http.post('/api/auth/register').set('Content-Type', 'application/json').send('{"username":').expect(400);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.body).toMatchObject({ status: 400, code: 'request.malformed_json' });
      expect(res.body.request_id).toEqual(res.headers['x-request-id']);
    });
  });

  describe('POST /api/auth/login', () => {
    it('returns a bearer token that opens /api/users/me', async () => {
      await ctx.http.post('/api/auth/register').send({ username: 'linus', email: 'linus@example.com', password: 'password1' }).expect(202);
      const res = await ctx.http.post('/api/auth/login').send({ email: 'LINUS@example.com', password: 'password1' }).expect(200);
      expect(res.body).toEqual({ access_token: expect.any(String), token_type: 'bearer', expires_in: 3600 });
      const me = await ctx.http.get('/api/users/me').set('Authorization', `Bearer ${res.body.access_token}`).expect(200);
      expect(me.body).toEqual({
        id: expect.any(String),
        username: 'linus',
        email: 'linus@example.com',
        role: 'user',
        credits: 100,
        is_active: true,
        created_at: expect.any(String),
        updated_at: expect.any(String),
      });
    });

    it('answers the same 401 for a wrong password and an unknown email, and records both', async () => {
      const user = await newUser(ctx);
      const wrong = await ctx.http.post('/api/auth/login').send({ email: user.email, password: 'not-the-password' }).expect(401);
      const unknown = await ctx.http.post('/api/auth/login').send({ email: 'nobody@example.com', password: 'whatever1' }).expect(401);
      expect(wrong.body.detail).toBe(unknown.body.detail);
      expect(wrong.body.code).toBe('auth.invalid_credentials');
      const events = await ctx.db.query(
        `SELECT user_id, severity, details FROM events WHERE action = 'auth.login_failed' ORDER BY created_at`,
      );
      expect(events.length).toBeGreaterThanOrEqual(2);
      expect(events.find((e: { user_id: string }) => e.user_id === user.id)?.severity).toBe('warning');
      expect(JSON.stringify(events)).not.toContain('not-the-password');
    });

    it('checks the body before signing in: missing, empty or malformed fields are a 400 with field errors and record no login attempt', async () => {
      const empty = await ctx.http.post('/api/auth/login').send({}).expect(400);
      expect(empty.body).toMatchObject({ code: 'request.body_empty', required: ['email', 'password'] });
      const bodies = [
        { email: 'ada@example.com' },
        { email: 'ada@example.com', password: '' },
        { email: 'not-an-email', password: 'x' },
        { email: 'ada@example.com', password: 'x', role: 'admin' },
      ];
      for (const body of bodies) {
        const res = await ctx.http.post('/api/auth/login').send(body).expect(400);
        expect(res.body.code).toBe('request.validation');
        expect(res.body.errors.length).toBeGreaterThan(0);
      }
      const rows = await ctx.db.query(`SELECT 1 FROM events WHERE action = 'auth.login_failed' AND details->>'email' = 'ada@example.com'`);
      expect(rows).toHaveLength(0);
    });

    it("signs in with the trimmed, case-insensitive email and records the caller's address", async () => {
      const user = await newUser(ctx);
      await ctx.http
        .post('/api/auth/login')
        .send({ email: `  ${user.email.toUpperCase()} `, password: user.password })
        .expect(200);
      const rows = await ctx.db.query(`SELECT details FROM events WHERE action = 'auth.login' AND user_id = $1 ORDER BY created_at`, [
        user.id,
      ]);
      expect(rows).toHaveLength(2);
      expect(rows[1].details.ip).toEqual(expect.stringMatching(/127\.0\.0\.1/));
    });

    it('records successful logins as auth events', async () => {
      const user = await newUser(ctx);
      const rows = await ctx.db.query(`SELECT 1 FROM events WHERE action = 'auth.login' AND user_id = $1`, [user.id]);
      expect(rows).toHaveLength(1);
    });
  });

  describe('tokens', () => {
    it('keeps CORS closed by default', async () => {
      const res = await ctx.http.get('/api/health').set('Origin', 'https://anywhere.example').expect(200);
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
    });

    it('answers 401 auth.token_missing without a bearer token, with the bare RFC 6750 challenge', async () => {
      for (const header of [undefined, 'Basic dXNlcjpwYXNz']) {
        const req = ctx.http.get('/api/users/me');
        const res = await (header ? req.set('Authorization', header) : req).expect(401);
        expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
        expect(res.body).toMatchObject({ status: 401, code: 'auth.token_missing' });
        // RFC 6750 section 3.1: no error code when the request carried no token.
        expect(res.headers['www-authenticate']).toBe('Bearer realm="vm-platform"');
      }
    });

    it('answers 401 auth.token_invalid for a garbage token and one signed by someone else, with error="invalid_token"', async () => {
      const forged =
        'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDAifQ.' +
        'c2lnbmF0dXJlLW9mLXNvbWVvbmUtZWxzZQ';
      for (const token of ['garbage', forged]) {
        const res = await ctx.http.get('/api/users/me').set('Authorization', `Bearer ${token}`).expect(401);
        expect(res.body).toMatchObject({ status: 401, code: 'auth.token_invalid' });
        expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="vm-platform", error="invalid_token", error_description="[^"]+"$/);
      }
    });

    it('answers 401 auth.token_expired for an expired token, token_invalid for an alg=none token and a deleted user’s token', async () => {
      const user = await newUser(ctx);
      const jwt = ctx.app.get(JwtService);
      const expired = await jwt.signAsync({ sub: user.id, role: 'user', exp: Math.floor(Date.now() / 1000) - 10 });
      const res = await ctx.http.get('/api/users/me').set('Authorization', `Bearer ${expired}`).expect(401);
      expect(res.body).toMatchObject({ code: 'auth.token_expired', detail: expect.stringContaining('expired') });
      expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="vm-platform", error="invalid_token", error_description=".*expired/);
      const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: user.id, role: 'admin' })}.`;
      expect((await ctx.http.get('/api/users/me').set('Authorization', `Bearer ${none}`).expect(401)).body.code).toBe('auth.token_invalid');
      const ghost = await jwt.signAsync({ sub: '00000000-0000-4000-8000-000000000000', role: 'admin' });
      expect((await ctx.http.get('/api/admin/users').set('Authorization', `Bearer ${ghost}`).expect(401)).body.code).toBe(
        'auth.token_invalid',
      );
    });

    it('refuses a token that worked once as soon as it expires (verified tokens are kept, their expiry is not)', async () => {
      const user = await newUser(ctx);
      const jwt = ctx.app.get(JwtService);
      const exp = Math.floor(Date.now() / 1000) + 2;
      const token = await jwt.signAsync({ sub: user.id, role: 'user', exp });
      await ctx.http.get('/api/users/me').set('Authorization', `Bearer ${token}`).expect(200);
      await ctx.http.get('/api/users/me').set('Authorization', `Bearer ${token}`).expect(200);
      await eventually(async () => Date.now() >= exp * 1000, 5000, 'the token to expire');
      const res = await ctx.http.get('/api/users/me').set('Authorization', `Bearer ${token}`).expect(401);
      expect(res.body.code).toBe('auth.token_expired');
    });

    it('stops working as soon as the user is deactivated, even by SQL outside the API', async () => {
      const user = await newUser(ctx);
      await ctx.http.get('/api/users/me').set(user.auth).expect(200);
      await ctx.db.query('UPDATE users SET is_active = false WHERE id = $1', [user.id]);
      // The users trigger NOTIFYs on commit; the app drops the identity it had cached (AUTH_CACHE_SECONDS is 60).
      await eventually(async () => (await ctx.http.get('/api/users/me').set(user.auth)).status === 401, 2000, 'the token to stop working');
      await ctx.http.post('/api/auth/login').send({ email: user.email, password: user.password }).expect(401);
    });
  });

  describe('GET /api/credits/transactions', () => {
    it('lists only the caller’s ledger rows, newest first', async () => {
      const a = await newUser(ctx, { credits: 250 });
      await newUser(ctx, { credits: 5 });
      const res = await ctx.http.get('/api/credits/transactions').set(a.auth).expect(200);
      expect(res.body.next_cursor).toBeNull();
      expect(
        res.body.items.map((t: { kind: string; amount: number; balance_after: number }) => [t.kind, t.amount, t.balance_after]),
      ).toEqual([
        ['admin_adjustment', 150, 250],
        ['signup_grant', 100, 100],
      ]);
    });
  });
});
