import { randomBytes } from 'node:crypto';
import { CreditsService } from '../../src/modules/credits/credits.service';
import type { TestContext } from './test-app';

export interface TestUser {
  id: string;
  username: string;
  email: string;
  password: string;
  token: string;
  auth: { Authorization: string };
}

/**
 * Registers and logs in a user through the API. `role: 'admin'` promotes them directly in the
 * database (the API never lets a request choose its role). `credits` sets the balance through the
 * ledger, so the ledger invariant holds in every test.
 */
export async function newUser(ctx: TestContext, opts: { role?: 'user' | 'admin'; credits?: number } = {}): Promise<TestUser> {
  const tag = randomBytes(4).toString('hex');
  const username = `u${tag}`;
  const email = `${username}@example.test`;
  const password = `pw-${tag}-secret`;
  const reg = await ctx.http.post('/api/auth/register').send({ username, email, password });
  if (reg.status !== 202) throw new Error(`register failed: ${reg.status} ${JSON.stringify(reg.body)}`);
  // Register tells nothing about the account (docs/architecture.md): the id and balance come from the database.
  const [row] = await ctx.db.query('SELECT id, credits FROM users WHERE username = $1', [username]);
  const id = row.id as string;
  if (opts.role === 'admin') await ctx.db.query(`UPDATE users SET role = 'admin' WHERE id = $1`, [id]);
  if (opts.credits !== undefined && opts.credits !== row.credits) {
    await ctx.db.transaction((m) =>
      ctx.app.get(CreditsService).apply(m, {
        userId: id,
        amount: opts.credits! - (row.credits as number),
        kind: 'admin_adjustment',
        reason: 'test setup',
      }),
    );
  }
  const login = await ctx.http.post('/api/auth/login').send({ email, password });
  if (login.status !== 200) throw new Error(`login failed: ${login.status}`);
  const token = login.body.access_token as string;
  return { id, username, email, password, token, auth: { Authorization: `Bearer ${token}` } };
}

/** Polls until `check` returns a truthy value, failing after `timeoutMs`. No fixed sleeps. */
export async function eventually<T>(
  check: () => Promise<T | undefined | null | false>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/** The algorithm and cost parameters of a stored argon2 hash (PHC string: `$argon2id$v=19$m=..,t=..,p=..$salt$hash`, any order). */
export function argon2Parameters(hash: string): { type: string; m: number; t: number; p: number } {
  const [, type = '', , params = ''] = hash.split('$');
  const values = Object.fromEntries(params.split(',').map((kv) => kv.split('=') as [string, string]));
  return { type, m: Number(values.m), t: Number(values.t), p: Number(values.p) };
}
