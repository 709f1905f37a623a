import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { newUser, TestUser } from '../support/factories';
import { createTestApp, TestContext } from '../support/test-app';

/** GET /api/admin/users?q=: a case-insensitive substring of the email or the username, keyset-paginated. */
describe('admin user search (e2e)', () => {
  let ctx: TestContext;
  let admin: TestUser;
  const ids: Record<string, string> = {};

  const register = async (key: string, username: string, email: string) => {
    await ctx.http.post('/api/auth/register').send({ username, email, password: 'search-pass-1234' }).expect(202);
    const [row] = await ctx.db.query('SELECT id FROM users WHERE username = $1', [username]);
    ids[key] = row.id as string;
  };
  type UserPage = { items: { id: string }[]; next_cursor: string | null };
  const search = async (query: string): Promise<UserPage> =>
    (await ctx.http.get(`/api/admin/users?${query}`).set(admin.auth).expect(200)).body as UserPage;
  const idsOf = (body: UserPage) => body.items.map((u) => u.id);

  beforeAll(async () => {
    ctx = await createTestApp();
    admin = await newUser(ctx, { role: 'admin' });
    // Oldest first: the list is newest first.
    await register('carol', 'carol_s', 'Carol.Search@Example.test');
    await register('dave', 'dsearch', 'dave@corp-search.test');
    await register('erin', 'erin-ops', 'erin@example.test');
  });
  afterAll(async () => {
    await ctx.close();
  });

  it('matches the email or the username anywhere, in any letter case, newest first', async () => {
    expect(idsOf(await search('q=carol'))).toEqual([ids.carol]);
    expect(idsOf(await search('q=SEARCH'))).toEqual([ids.dave, ids.carol]);
    expect(idsOf(await search('q=ops'))).toEqual([ids.erin]); // the username only
    expect(idsOf(await search('q=CORP-'))).toEqual([ids.dave]); // the email only
    expect(idsOf(await search(`q=${encodeURIComponent('@EXAMPLE.test')}&role=user`))).toEqual([ids.erin, ids.carol]);
  });

  it('pages a search with the keyset cursor', async () => {
    const first = await search('q=search&limit=1');
    expect(idsOf(first)).toEqual([ids.dave]);
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = await search(`q=search&limit=1&cursor=${first.next_cursor}`);
    expect(idsOf(second)).toEqual([ids.carol]);
    expect(second.next_cursor).toBeNull();
  });

  it('answers an empty page when nothing matches, takes % and _ literally, and treats an empty q as no filter', async () => {
    expect(await search('q=nobody-here')).toEqual({ items: [], next_cursor: null });
    expect(await search('q=%25')).toEqual({ items: [], next_cursor: null });
    expect(idsOf(await search('q=l_s'))).toEqual([ids.carol]); // carol_s, not "carol.search"
    expect(idsOf(await search('q=&limit=100'))).toEqual(idsOf(await search('limit=100')));
  });

  it('keeps the email_prefix and username_prefix filters', async () => {
    expect(idsOf(await search('email_prefix=CAROL.'))).toEqual([ids.carol]);
    expect(idsOf(await search('username_prefix=ds'))).toEqual([ids.dave]);
    expect(idsOf(await search('q=search&email_prefix=dave'))).toEqual([ids.dave]);
  });

  it('answers 400 request.validation for a search that is too long or given twice', async () => {
    for (const query of [`q=${'a'.repeat(255)}`, 'q=a&q=b']) {
      const res = await ctx.http.get(`/api/admin/users?${query}`).set(admin.auth).expect(400);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.body).toMatchObject({ code: 'request.validation', errors: [expect.objectContaining({ field: 'q' })] });
    }
    const user = await newUser(ctx);
    await ctx.http.get('/api/admin/users?q=carol').set(user.auth).expect(403);
  });

  it('finds users through the trigram index, not a scan of the table', async () => {
    await ctx.db.query('SET enable_seqscan = off');
    try {
      const [plan] = await ctx.db.query(
        "EXPLAIN (FORMAT JSON) SELECT id FROM users WHERE lower(email) LIKE '%search%' OR username LIKE '%search%'",
      );
      const text = JSON.stringify(plan);
      expect(text).toContain('users_email_trgm_idx');
      expect(text).toContain('users_username_trgm_idx');
    } finally {
      await ctx.db.query('RESET enable_seqscan');
    }
  });
});
