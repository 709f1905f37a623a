import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { blocking, runAxe, summarize, type AxeSummary } from '../support/axe';
import { CHROMIUM_OPTIONS, describeInBrowser } from '../support/browser';
import { ensureWebBuilt } from '../support/build';
import { eventually, newUser, type TestUser } from '../support/factories';
import { listen } from '../support/sse';
import { sshKeygen } from '../support/ssh-keygen';
import { createTestApp, TEST_HOST, type TestContext } from '../support/test-app';

/**
 * The console in a newcomer's first hour (issue 26): every page fits every screen from 320 px up
 * (no sideways scroll, row actions in view, axe clean), focus follows navigation, signing in lands
 * on the signed-in user's own home, a session survives a reload and a new tab, and VMs are searchable by name.
 */

const ADMIN = { email: 'fit-admin@example.test', password: 'fit-admin-password' };
const OUT = join('test-output', 'console-fit');
const WIDTHS = [320, 375, 768, 1440] as const;
/** Long enough to need wrapping at 320 px (a hostname label may be 63 characters). */
const VM_NAME = 'a-rather-long-vm-name-that-has-to-wrap-on-a-phone-screen-0001';
const HOOK_PATH = '/hooks/receiver/for-the-console-layout-test/with/a/long/path/that/does/not/break';

let ctx: TestContext;
let baseUrl: string;
let user: TestUser;
let vmId: string;

beforeAll(async () => {
  ensureWebBuilt();
  ctx = await createTestApp({
    env: {
      SIMULATOR_DELAY_MS: 50,
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      EVENT_STREAMS_PER_USER: 20,
      WEBHOOKS_ALLOW_HTTP: true,
      WEBHOOKS_ALLOW_LOOPBACK: true,
    },
  });
  baseUrl = await listen(ctx);
  user = await newUser(ctx);
  const key = sshKeygen('rsa', { bits: 3072, comment: 'someone@a-laptop-with-a-long-hostname.example.test' });
  await ctx.http.post('/api/ssh-keys').set(user.auth).send({ name: 'laptop', public_key: key.publicKey }).expect(201);
  const vm = await ctx.http
    .post('/api/vms')
    .set(user.auth)
    .send({ name: VM_NAME, os_type: 'ubuntu-22.04', ram_mb: 1024, disk_gb: 20, cpu_cores: 2 })
    .expect(202);
  vmId = vm.body.id;
  await ctx.http
    .post('/api/vms')
    .set(user.auth)
    .send({ name: 'db-1', os_type: 'debian-12', ram_mb: 512, disk_gb: 10, cpu_cores: 1 })
    .expect(202);
  await ctx.http
    .post('/api/tokens')
    .set(user.auth)
    .send({ name: 'deploy-from-ci', scopes: ['vms:read', 'events:read'] })
    .expect(201);
  await ctx.http
    .post('/api/webhooks')
    .set(user.auth)
    .send({ url: `http://127.0.0.1:9${HOOK_PATH}`, events: ['vm.*'] })
    .expect(201);
}, 120_000);

afterAll(async () => {
  await ctx.close();
});

describeInBrowser('web console fits every screen and follows its user (e2e)', () => {
  let browser: Browser;
  const problems: string[] = [];
  const report: Record<string, Record<number, { scrollWidth: number; axe: AxeSummary }>> = {};

  async function newContext(): Promise<BrowserContext> {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    context.on('page', (p) => p.on('pageerror', (err) => problems.push(`page error: ${err.message}`)));
    return context;
  }

  async function signIn(p: Page, email: string, password: string, path = '/'): Promise<void> {
    await p.goto(`${baseUrl}${path}`);
    await p.getByRole('heading', { name: 'Sign in' }).waitFor();
    await p.getByLabel('Email').fill(email);
    await p.getByLabel('Password').fill(password);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByRole('button', { name: 'Sign out' }).waitFor();
  }

  /** What overflows at this width: the document's scroll width, and row actions, numbers and codes outside the visible part of their table. */
  const measure = (p: Page) =>
    p.evaluate<{ scrollWidth: number; innerWidth: number; hidden: string[] }>(`(() => {
      const visible = (el) => {
        const r = el.getBoundingClientRect();
        const region = el.closest('.table-scroll');
        const box = region ? region.getBoundingClientRect() : { left: 0, right: innerWidth };
        return r.left >= Math.max(0, box.left) - 1 && r.right <= Math.min(innerWidth, box.right) + 1;
      };
      const hidden = [...document.querySelectorAll('.table-scroll tbody button, .table-scroll tbody td.num, .table-scroll tbody code')]
        .filter((el) => !visible(el))
        .map((el) => (el.getAttribute('aria-label') || el.textContent || '').trim().slice(0, 60));
      return { scrollWidth: document.scrollingElement.scrollWidth, innerWidth, hidden };
    })()`);

  /** The page at every width: no horizontal scroll, every row action, number and code in view, axe clean; screenshots in test-output/console-fit. */
  async function fits(p: Page, name: string, path: string, ready: (p: Page) => Promise<unknown>): Promise<void> {
    await p.setViewportSize({ width: 1440, height: 900 });
    await p.goto(`${baseUrl}${path}`);
    await ready(p);
    for (const width of WIDTHS) {
      await p.setViewportSize({ width, height: 800 });
      await p.evaluate('new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))');
      await p.screenshot({ path: join(OUT, `${name}-${width}.png`), fullPage: true });
      const m = await measure(p);
      const violations = await runAxe(p);
      (report[name] ??= {})[width] = { scrollWidth: m.scrollWidth, axe: summarize(violations) };
      const overflow = m.scrollWidth > m.innerWidth ? m.scrollWidth : 0;
      expect({ page: name, width, overflow, hidden: m.hidden, axe: blocking(violations) }).toEqual({
        page: name,
        width,
        overflow: 0,
        hidden: [],
        axe: [],
      });
    }
  }

  beforeAll(async () => {
    browser = await chromium.launch(CHROMIUM_OPTIONS);
    await mkdir(OUT, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await browser.close();
    await writeFile(join(OUT, 'fit.json'), `${JSON.stringify(report, null, 2)}\n`);
  });

  it("fits a user's pages at 320, 375, 768 and 1,440 px: no sideways scroll, actions and amounts in view, axe clean", async () => {
    const context = await newContext();
    const p = await context.newPage();
    await signIn(p, user.email, user.password);
    await fits(p, 'vms', '/vms', (q) => q.locator(`tr[data-vm="${VM_NAME}"]`).waitFor());
    await fits(p, 'vm-details', `/vms/${vmId}`, (q) => q.getByRole('heading', { name: VM_NAME }).waitFor());
    await fits(p, 'launch', '/vms/new', (q) => q.getByRole('heading', { name: 'Launch a VM' }).waitFor());
    await fits(p, 'ssh-keys', '/ssh-keys', (q) => q.getByRole('cell', { name: 'laptop', exact: true }).waitFor());
    await fits(p, 'credits', '/credits', (q) => q.getByRole('cell', { name: 'Sign-up grant', exact: true }).waitFor());
    await fits(p, 'tokens', '/tokens', (q) => q.getByRole('cell', { name: 'deploy-from-ci', exact: true }).waitFor());
    await fits(p, 'webhooks', '/webhooks', (q) => q.getByText(HOOK_PATH, { exact: false }).first().waitFor());
    await context.close();
  }, 300_000);

  it("fits an admin's pages at 320, 375, 768 and 1,440 px, Drain included", async () => {
    const context = await newContext();
    const p = await context.newPage();
    await signIn(p, ADMIN.email, ADMIN.password);
    await fits(p, 'admin-users', '/admin/users', (q) => q.locator(`tr[data-user="${user.email}"]`).waitFor());
    await fits(p, 'admin-users-search', `/admin/users?q=${user.username}`, (q) => q.locator(`tr[data-user="${user.email}"]`).waitFor());
    await fits(p, 'admin-user-quotas', `/admin/users?q=${user.username}`, async (q) => {
      await q.getByRole('button', { name: `Quotas of ${user.username}` }).click();
      await q
        .getByRole('dialog', { name: `Quotas of ${user.username}` })
        .getByTestId('quota-vms-use')
        .waitFor();
    });
    await fits(p, 'admin-vms', '/admin/vms', (q) => q.locator(`tr[data-vm="${VM_NAME}"]`).waitFor());
    await fits(p, 'admin-hosts', '/admin/hosts', (q) =>
      q.locator(`tr[data-host="${TEST_HOST}"]`).getByRole('button', { name: /Drain/ }).waitFor(),
    );
    await fits(p, 'admin-events', '/admin/events', (q) => q.locator('li[data-action="vm.create"]').first().waitFor());
    await context.close();
  }, 300_000);

  /** The text of the focused element when it is an h1 (evaluated in the page, outside its CSP). */
  const focusedHeading = (p: Page) =>
    p.evaluate(`document.activeElement && document.activeElement.tagName === 'H1' ? document.activeElement.textContent : null`);

  it('moves focus to the new page’s heading on client-side navigation', async () => {
    const context = await newContext();
    const p = await context.newPage();
    await signIn(p, user.email, user.password);
    await p.getByRole('heading', { name: 'Your VMs' }).waitFor();
    for (const [link, heading] of [
      ['Credits', 'Credits'],
      ['SSH keys', 'SSH keys'],
      ['VMs', 'Your VMs'],
    ] as const) {
      await p.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: link, exact: true }).click();
      await p.getByRole('heading', { level: 1, name: heading }).waitFor();
      await eventually(async () => (await focusedHeading(p)) === heading, 5_000, `focus on the h1 "${heading}"`);
    }
    // A page that loads before its heading exists: focus waits for the heading.
    await p.locator(`tr[data-vm="${VM_NAME}"]`).getByRole('link', { name: VM_NAME }).click();
    await eventually(async () => (await focusedHeading(p)) === VM_NAME, 5_000, 'focus on the VM page’s h1');
    await context.close();
  }, 60_000);

  it("lands on the signed-in user's home: a user who signs out on a VM page, then an admin signing in, sees the admin's VMs", async () => {
    const context = await newContext();
    const p = await context.newPage();
    await signIn(p, user.email, user.password, `/vms/${vmId}`);
    // The same user is brought back where the sign-in started.
    await p.waitForURL(`**/vms/${vmId}`);
    await p.getByRole('heading', { name: VM_NAME }).waitFor();
    await p.getByRole('button', { name: 'Sign out' }).click();
    await p.getByRole('heading', { name: 'Sign in' }).waitFor();
    await p.getByLabel('Email').fill(ADMIN.email);
    await p.getByLabel('Password').fill(ADMIN.password);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByRole('heading', { level: 1, name: 'Your VMs' }).waitFor();
    expect(new URL(p.url()).pathname).toBe('/vms');
    expect(await p.getByText('VM not found').count()).toBe(0);

    // A session that ends on the user's VM page (the token no longer accepted), then another identity signs in: home too.
    await p.getByRole('button', { name: 'Sign out' }).click();
    await signIn(p, user.email, user.password, `/vms/${vmId}`);
    // The admin's session ended last in this tab: the user lands home, not on the page the admin left.
    await p.getByRole('heading', { level: 1, name: 'Your VMs' }).waitFor();
    await p.locator(`tr[data-vm="${VM_NAME}"]`).getByRole('link', { name: VM_NAME }).click();
    await p.getByRole('heading', { name: VM_NAME }).waitFor();
    await ctx.http
      .post(`/api/admin/users/${user.id}/sign-out`)
      .set('Authorization', `Bearer ${await adminToken()}`)
      .expect(204);
    await p.reload();
    await p.getByText('Your session has ended. Sign in again.').waitFor();
    expect(new URL(p.url()).searchParams.get('next')).toBe(`/vms/${vmId}`);
    await p.getByLabel('Email').fill(ADMIN.email);
    await p.getByLabel('Password').fill(ADMIN.password);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByRole('heading', { level: 1, name: 'Your VMs' }).waitFor();
    expect(new URL(p.url()).pathname).toBe('/vms');
    await context.close();
  }, 60_000);

  async function adminToken(): Promise<string> {
    return (await ctx.http.post('/api/auth/login').send(ADMIN).expect(200)).body.access_token as string;
  }

  it('keeps the session across a reload and in a new tab of the same browser, and signs every tab out together; another browser signs in', async () => {
    const context = await newContext();
    const first = await context.newPage();
    await signIn(first, user.email, user.password, '/credits');
    await first.getByTestId('credits-balance').waitFor();
    await first.reload();
    await first.getByRole('heading', { name: 'Credits' }).waitFor();
    expect(new URL(first.url()).pathname).toBe('/credits');

    const second = await context.newPage();
    await second.goto(`${baseUrl}/ssh-keys`);
    await second.getByRole('heading', { name: 'SSH keys' }).waitFor();
    await second.getByRole('cell', { name: 'laptop', exact: true }).waitFor();
    expect(new URL(second.url()).pathname).toBe('/ssh-keys');
    // Nowhere another origin (or a request URL) could see it: no cookie, nothing in localStorage.
    expect(await context.cookies()).toEqual([]);
    expect(await second.evaluate('JSON.stringify(localStorage)')).toBe('{}');

    // Signing out in one tab signs out the other.
    await second.getByRole('button', { name: 'Sign out' }).click();
    await second.getByRole('heading', { name: 'Sign in' }).waitFor();
    await first.getByRole('heading', { name: 'Sign in' }).waitFor();

    // A different browser profile shares nothing.
    const other = await newContext();
    const stranger = await other.newPage();
    await stranger.goto(`${baseUrl}/credits`);
    await stranger.getByRole('heading', { name: 'Sign in' }).waitFor();
    await other.close();
    await context.close();
  }, 60_000);

  it('searches the VM list by name (case-insensitive prefix), kept in the URL', async () => {
    const context = await newContext();
    const p = await context.newPage();
    await signIn(p, user.email, user.password);
    await p.locator('tr[data-vm="db-1"]').waitFor();
    await p.getByLabel('Name starts with').fill('A-RATHER');
    await p.getByLabel('Name starts with').press('Enter');
    await p.locator('tr[data-vm="db-1"]').waitFor({ state: 'detached' });
    await p.locator(`tr[data-vm="${VM_NAME}"]`).waitFor();
    expect(new URL(p.url()).searchParams.get('name')).toBe('a-rather');
    await p.reload();
    await p.locator(`tr[data-vm="${VM_NAME}"]`).waitFor();
    expect(await p.locator('tr[data-vm="db-1"]').count()).toBe(0);
    expect(await p.getByLabel('Name starts with').inputValue()).toBe('a-rather');
    await context.close();
  }, 60_000);

  it("lets an admin find a user by part of their username in any case (kept in the URL), and set and clear their quotas, with the API's field errors on the field", async () => {
    const context = await newContext();
    const p = await context.newPage();
    await signIn(p, ADMIN.email, ADMIN.password, '/admin/users');
    const row = p.locator(`tr[data-user="${user.email}"]`);
    await row.waitFor();
    await p.getByLabel('Email or username contains').fill(user.username.slice(2).toUpperCase());
    await p.getByLabel('Email or username contains').press('Enter');
    await p.waitForURL(`**/admin/users?q=${user.username.slice(2).toUpperCase()}`);
    await p.locator(`tr[data-user="${ADMIN.email}"]`).waitFor({ state: 'detached' });
    await row.waitFor();
    await p.reload();
    await row.waitFor();
    expect(await p.getByLabel('Email or username contains').inputValue()).toBe(user.username.slice(2).toUpperCase());
    expect(await p.locator('tbody tr').count()).toBe(1);

    await row.getByRole('button', { name: `Quotas of ${user.username}` }).click();
    const dialog = p.getByRole('dialog', { name: `Quotas of ${user.username}` });
    const vms = dialog.getByRole('spinbutton', { name: 'VMs' });
    await dialog.getByTestId('quota-vms-use').waitFor();
    expect(await dialog.getByTestId('quota-vms-use').textContent()).toMatch(/^2 in use of .* \(default\)$/);
    expect(await p.evaluate('document.activeElement && document.activeElement.id')).toBe('quota-vms');
    // The API's validation errors, on the field they name.
    await vms.fill('100001');
    await dialog.getByRole('button', { name: 'Save quotas' }).click();
    await dialog.getByRole('alert').getByText('quotas.vms').waitFor();
    expect(await vms.getAttribute('aria-invalid')).toBe('true');
    // Set two limits: the use-against-limit lines follow without a reload.
    await vms.fill('5');
    await dialog.getByRole('spinbutton', { name: 'RAM (MB)' }).fill('4096');
    await dialog.getByRole('button', { name: 'Save quotas' }).click();
    await dialog.getByRole('status').getByText('Quotas saved.').waitFor();
    expect(await dialog.getByTestId('quota-vms-use').textContent()).toMatch(/^2 in use of 5 \(own limit; default .*\)$/);
    expect(await dialog.getByTestId('quota-ram_mb-use').textContent()).toMatch(/^1536 MB in use of 4 GB \(own limit/);
    expect(await vms.getAttribute('aria-invalid')).toBeNull();
    const token = `Bearer ${await adminToken()}`;
    const set = await ctx.http.get(`/api/admin/users/${user.id}`).set('Authorization', token).expect(200);
    expect(set.body.quota_overrides).toEqual({ vms: 5, cpu_cores: null, ram_mb: 4096 });
    // Clear one: back to the default.
    await dialog.getByRole('button', { name: 'Use default for VMs' }).click();
    expect(await vms.inputValue()).toBe('');
    await dialog.getByRole('button', { name: 'Save quotas' }).click();
    await dialog.getByRole('status').getByText('Quotas saved.').waitFor();
    expect(await dialog.getByTestId('quota-vms-use').textContent()).toMatch(/\(default\)$/);
    const cleared = await ctx.http.get(`/api/admin/users/${user.id}`).set('Authorization', token).expect(200);
    expect(cleared.body.quota_overrides).toEqual({ vms: null, cpu_cores: null, ram_mb: 4096 });
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await context.close();
  }, 60_000);

  it('lets an admin stop any VM (with a reason) and deactivate a user from their pages', async () => {
    const other = await newUser(ctx);
    const context = await newContext();
    const p = await context.newPage();
    await signIn(p, ADMIN.email, ADMIN.password, '/admin/vms');
    const row = p.locator('tr[data-vm="db-1"]');
    await row.locator('[data-status="running"]').waitFor();
    await row.getByRole('button', { name: 'Stop db-1' }).click();
    const dialog = p.getByRole('dialog', { name: 'Stop db-1?' });
    await dialog.getByLabel('Reason').fill('abuse report 42');
    await dialog.getByRole('button', { name: 'Stop' }).click();
    await row.locator('[data-status="stopping"], [data-status="stopped"]').first().waitFor();
    // The admin event names the reason.
    const events = await ctx.http
      .get('/api/admin/events')
      .query({ limit: 50, type: 'admin' })
      .set('Authorization', `Bearer ${await adminToken()}`)
      .expect(200);
    expect(JSON.stringify(events.body.items)).toContain('abuse report 42');

    await p.getByRole('link', { name: 'Users' }).click();
    const userRow = p.locator(`tr[data-user="${other.email}"]`);
    await userRow.getByRole('button', { name: `Deactivate ${other.username}` }).click();
    await p
      .getByRole('dialog', { name: `Deactivate ${other.username}?` })
      .getByRole('button', { name: 'Deactivate' })
      .click();
    await userRow.getByRole('button', { name: `Reactivate ${other.username}` }).waitFor();
    await ctx.http.get('/api/users/me').set(other.auth).expect(401);
    await context.close();
  }, 60_000);

  it('ran without a page error', () => {
    expect(problems).toEqual([]);
  });
});
