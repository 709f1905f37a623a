import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { blocking, runAxe, summarize, type AxeSummary } from '../support/axe';
import { CHROMIUM_OPTIONS, describeInBrowser } from '../support/browser';
import { ensureWebBuilt } from '../support/build';
import { eventually } from '../support/factories';
import { listen } from '../support/sse';
import { sshKeygen } from '../support/ssh-keygen';
import { createTestApp, TestContext } from '../support/test-app';

/**
 * The web console (web/, served at / by the app): its HTTP serving, then the product's flows in
 * Debian's Chromium against the real service on test PostgreSQL with the simulator.
 */

const ADMIN = { email: 'console-admin@example.test', password: 'console-admin-password' };
const OUT = join('test-output', 'console');
const WIDTHS = [1440, 375] as const;
const UUID_PATH = /\/vms\/[0-9a-f-]{36}$/;
/** Where the console keeps its session (evaluated in the page; the test's TypeScript has no DOM types). */
const SESSION = "sessionStorage.getItem('vm-platform.session')";

let ctx: TestContext;
let baseUrl: string;
const logs: string[] = [];

beforeAll(async () => {
  ensureWebBuilt();
  ctx = await createTestApp({
    captureLogs: logs,
    // Slow enough that the page shows provisioning/stopping/starting before the simulator finishes.
    env: {
      SIMULATOR_DELAY_MS: 2500,
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      EVENT_STREAMS_PER_USER: 20,
      // Limits, so the launch form has quota headroom to show (none is reached here).
      QUOTA_MAX_VMS: 5,
      QUOTA_MAX_CPU_CORES: 16,
      QUOTA_MAX_RAM_MB: 16384,
    },
  });
  baseUrl = await listen(ctx);
}, 120_000);

afterAll(async () => {
  await ctx?.close();
});

describe('web console: served by the app (e2e)', () => {
  it('serves index.html at / and at client routes: no-cache, with a CSP that allows only this origin', async () => {
    for (const path of ['/', '/vms', '/vms/7b0f4c36-0000-4000-8000-000000000000', '/admin/users?x=1']) {
      const res = await ctx.http.get(path).expect(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.text).toContain('<div id="app">');
      const csp = res.headers['content-security-policy'];
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("connect-src 'self'");
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https:|\*/);
    }
    // No inline script at all: the page's one script is a hashed file of this origin.
    const index = (await ctx.http.get('/').expect(200)).text;
    expect(index).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(index).toMatch(/<script type="module" crossorigin src="\/assets\/index-[\w-]+\.js"><\/script>/);
  });

  it('serves hashed assets for a year (immutable), and 404s for a missing one instead of index.html', async () => {
    const assets = readdirSync(join('dist', 'web', 'assets'));
    expect(assets.some((a) => a.endsWith('.js'))).toBe(true);
    for (const asset of assets) {
      const res = await ctx.http.get(`/assets/${asset}`).expect(200);
      expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(res.headers['content-type']).toMatch(asset.endsWith('.js') ? /javascript/ : /css/);
    }
    const missing = await ctx.http.get('/assets/index-missing.js').expect(404);
    expect(missing.text).not.toContain('<div id="app">');
  });

  it('leaves the API, its docs and /metrics alone: unknown API routes are still 404 problems', async () => {
    const res = await ctx.http.get('/api/nowhere').expect(404);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.body.code).toBe('route.not_found');
    await ctx.http.get('/api').expect(200);
    const docs = await ctx.http.get('/api/docs/').expect(200);
    expect(docs.text).toContain('swagger-ui');
    // Not served on the API port by default (METRICS_PORT), and not the console's either.
    const metrics = await ctx.http.get('/metrics').expect(404);
    expect(metrics.body.code).toBe('route.not_found');
    // Writes to a client route are not the console's: Nest answers them.
    await ctx.http.post('/vms').send({}).expect(404);
  });
});

describeInBrowser('web console in Chromium (e2e)', () => {
  let browser: Browser;
  let page: Page;
  let admin: Page;
  const user = { username: 'ada', email: 'ada@example.test', password: 'correct horse battery' };
  /** page name -> width -> serious/critical violations (all impacts counted in the report file). */
  const axeReport: Record<string, Record<number, AxeSummary>> = {};
  const problems: string[] = [];
  const requestUrls: string[] = [];
  let vmId: string;

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const p = await context.newPage();
    p.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    p.on('console', (msg) => {
      if (/Content.Security.Policy|Refused to/i.test(msg.text())) problems.push(`CSP: ${msg.text()}`);
    });
    p.on('request', (r) => requestUrls.push(r.url()));
    return p;
  }

  /** Screenshot at both widths into test-output/console, and axe-core at both widths: no serious or critical violation. */
  async function audit(p: Page, name: string): Promise<void> {
    await mkdir(OUT, { recursive: true });
    for (const width of WIDTHS) {
      await p.setViewportSize({ width, height: 900 });
      await p.evaluate('new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))');
      await p.screenshot({ path: join(OUT, `${name}-${width}.png`), fullPage: true });
      const violations = await runAxe(p);
      (axeReport[name] ??= {})[width] = summarize(violations);
      expect({ page: name, width, blocking: blocking(violations) }).toEqual({ page: name, width, blocking: [] });
    }
    await p.setViewportSize({ width: 1440, height: 900 });
  }

  const badge = (p: Page) => p.locator('.page-head [data-status]');
  const api = (method: 'get' | 'post', path: string, token: string) => ctx.http[method](path).set('Authorization', `Bearer ${token}`);
  const tokenOf = async (p: Page): Promise<string> => JSON.parse(((await p.evaluate(SESSION)) as string | null) ?? '{}').token;

  beforeAll(async () => {
    browser = await chromium.launch(CHROMIUM_OPTIONS);
    page = await newPage();
    admin = await newPage();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await mkdir(OUT, { recursive: true });
    await writeFile(join(OUT, 'axe-results.json'), `${JSON.stringify(axeReport, null, 2)}\n`);
  });

  it('sends a visitor to sign-in, and registers through the form onto an empty VM list', async () => {
    await page.goto(`${baseUrl}/`);
    await page.waitForURL('**/signin');
    await expect(page.getByRole('heading', { name: 'Sign in' }).isVisible()).resolves.toBe(true);
    await audit(page, 'sign-in');
    await page.getByRole('link', { name: 'Register' }).click();
    await page.getByRole('heading', { name: 'Create an account' }).waitFor();
    await audit(page, 'register');
    await page.getByLabel('Username').fill(user.username);
    await page.getByLabel('Email').fill(user.email);
    await page.getByLabel('Password').fill(user.password);
    await page.getByRole('button', { name: 'Register' }).click();
    await page.waitForURL('**/vms');
    await page.getByText('You have no VMs yet.').waitFor();
    await page.getByTestId('balance').filter({ hasText: '100' }).waitFor();
    await audit(page, 'vms-empty');
  }, 120_000);

  it('launches a VM through the form: 34 credits confirmed, then it provisions in place and reaches running without a reload', async () => {
    await page.getByRole('link', { name: 'Launch your first VM' }).click();
    await page.getByLabel('Name').fill('web-1');
    await page.getByLabel('Memory (MB)').fill('1024');
    await page.getByLabel('Disk (GB)').fill('20');
    await page.getByLabel('CPU cores').fill('2');
    await page.getByTestId('cost').filter({ hasText: '34 credits' }).waitFor();
    // Quota headroom from GET /api/vms/quota: what this VM would bring the use to.
    expect(await page.getByTestId('headroom').innerText()).toBe('VMs\n1 of 5\nCPU cores\n2 of 16\nMemory (MB)\n1024 of 16384');
    await audit(page, 'launch');
    await page.getByRole('button', { name: 'Review and launch' }).click();
    const dialog = page.getByRole('dialog', { name: 'Launch this VM?' });
    await dialog.waitFor();
    expect(await dialog.getByTestId('confirm-cost').textContent()).toBe('34 credits');
    await audit(page, 'launch-confirm');
    // A reload would lose this.
    await page.evaluate(() => ((globalThis as unknown as { sameDocument: boolean }).sameDocument = true));
    await dialog.getByRole('button', { name: 'Launch', exact: true }).click();
    await page.waitForURL(UUID_PATH);
    vmId = page.url().split('/').pop()!;
    await badge(page).filter({ hasText: 'provisioning' }).waitFor();
    await page.getByRole('status').filter({ hasText: 'Provisioning' }).waitFor();
    await badge(page).filter({ hasText: 'running' }).waitFor({ timeout: 30_000 });
    await page.getByLabel('SSH command').waitFor();
    expect(await page.evaluate(() => (globalThis as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
    await page.getByTestId('balance').filter({ hasText: '66' }).waitFor();
  }, 120_000);

  it('stops and starts the VM from its buttons, each status arriving live', async () => {
    await page.getByRole('button', { name: 'Stop' }).click();
    await badge(page).filter({ hasText: 'stopping' }).waitFor();
    await badge(page).filter({ hasText: 'stopped' }).waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: 'Start' }).click();
    await badge(page).filter({ hasText: 'starting' }).waitFor();
    await badge(page).filter({ hasText: 'running' }).waitFor({ timeout: 30_000 });
    expect(await page.evaluate(() => (globalThis as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
  }, 120_000);

  it('edits the metadata: adds keys, then removes one', async () => {
    const card = page.locator('section.card', { has: page.getByRole('heading', { name: 'Metadata' }) });
    await card.getByRole('button', { name: 'Add a key' }).click();
    await card.getByLabel('Key 1').fill('team');
    await card.getByLabel('Value 1').fill('web');
    await card.getByRole('button', { name: 'Add a key' }).click();
    await card.getByLabel('Key 2').fill('env');
    await card.getByLabel('Value 2').fill('staging');
    await card.getByRole('button', { name: 'Save metadata' }).click();
    await card.getByText('Saved.').waitFor();
    const token = await tokenOf(page);
    expect((await api('get', `/api/vms/${vmId}`, token).expect(200)).body.metadata).toEqual({ team: 'web', env: 'staging' });
    await card.getByRole('button', { name: 'Remove env' }).click();
    await card.getByRole('button', { name: 'Save metadata' }).click();
    await card.getByText('Saved.').waitFor();
    expect((await api('get', `/api/vms/${vmId}`, token).expect(200)).body.metadata).toEqual({ team: 'web' });
  }, 60_000);

  it('shows the VM event timeline (live) and its usage charts', async () => {
    const timeline = page.locator('ol.timeline');
    for (const action of ['vm.create', 'system.credit_deduction', 'vm.provisioned', 'vm.stopped', 'vm.started', 'vm.metadata_updated']) {
      await timeline.locator(`li[data-action="${action}"]`).first().waitFor();
    }
    const token = await tokenOf(page);
    const now = Date.now();
    const points = Array.from({ length: 30 }, (_, i) => {
      const recorded_at = new Date(now - (30 - i) * 60_000).toISOString();
      return [
        { name: 'cpu_percent', value: 20 + (i % 7) * 5, recorded_at },
        { name: 'memory_used_mb', value: 300 + i * 4, unit: 'MB', recorded_at },
        { name: 'disk_used_gb', value: 3 + i * 0.05, unit: 'GB', recorded_at },
      ];
    }).flat();
    await api('post', `/api/vms/${vmId}/metrics`, token).send({ points }).expect(201);
    await page.getByRole('button', { name: 'Refresh' }).click();
    for (const label of ['CPU', 'Memory', 'Disk']) {
      await page.locator('figure.chart figcaption', { hasText: label }).filter({ hasText: 'latest' }).waitFor();
    }
    expect(await page.locator('figure.chart canvas').count()).toBe(3);
    await audit(page, 'vm-details');
    await page.getByRole('link', { name: 'VMs', exact: true }).click();
    await page.locator('tr[data-vm="web-1"] [data-status="running"]').waitFor();
    await audit(page, 'vms');
  }, 120_000);

  it('shows the 402 problem detail when the balance cannot pay for the VM', async () => {
    // Within the quotas (a body that could never succeed is refused for that first, issue 22), too dear to pay.
    await page.getByRole('link', { name: 'Launch', exact: true }).click();
    await page.getByLabel('Name').fill('big-1');
    await page.getByLabel('Memory (MB)').fill('1024');
    await page.getByLabel('Disk (GB)').fill('2048');
    await page.getByLabel('CPU cores').fill('1');
    await page.getByText('Not enough credits for this size.').waitFor();
    const quota = (
      await api('post', '/api/vms/quota-check', await tokenOf(page))
        .send({ ram_mb: 1024, disk_gb: 2048, cpu_cores: 1 })
        .expect(200)
    ).body;
    await page
      .getByTestId('cost')
      .filter({ hasText: `${quota.cost} credits` })
      .waitFor();
    await page.getByRole('button', { name: 'Review and launch' }).click();
    const dialog = page.getByRole('dialog', { name: 'Launch this VM?' });
    const answer = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/vms');
    await dialog.getByRole('button', { name: 'Launch', exact: true }).click();
    const refused = await answer;
    expect(refused.status()).toBe(402);
    const problem = await refused.json();
    expect(problem).toMatchObject({
      code: 'credits.insufficient',
      detail: expect.stringContaining(`${quota.cost} credits and the balance is 66`),
    });
    const alert = dialog.getByRole('alert');
    await alert.waitFor();
    expect(await alert.getAttribute('data-code')).toBe('credits.insufficient');
    expect(await alert.textContent()).toBe(`${problem.title}${problem.detail}`);
    await audit(page, 'launch-insufficient');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(page.url()).toMatch(/\/vms\/new$/);
  }, 60_000);

  it('adds an SSH key and shows the ledger', async () => {
    await page.getByRole('link', { name: 'SSH keys' }).click();
    await page.getByText('No SSH keys yet.').waitFor();
    const key = sshKeygen('ed25519', { comment: 'ada@laptop' });
    await page.getByLabel('Name').fill('laptop');
    await page.getByLabel('Public key').fill(key.publicKey);
    await page.getByRole('button', { name: 'Add key' }).click();
    await page.getByText(key.fingerprint).waitFor();
    await audit(page, 'ssh-keys');
    await page.getByRole('link', { name: 'Credits' }).click();
    await page.getByTestId('credits-balance').filter({ hasText: '66' }).waitFor();
    await page.getByRole('cell', { name: 'VM created' }).waitFor();
    await page.getByRole('cell', { name: 'Sign-up grant' }).waitFor();
    await audit(page, 'credits');
  }, 60_000);

  it('creates an API token with chosen scopes, shows the secret once, lists and revokes it', async () => {
    await page.getByRole('link', { name: 'API tokens' }).click();
    await page.getByText('No API tokens yet.').waitFor();
    // A user is not offered admin scopes.
    expect(await page.getByLabel('admin:read', { exact: false }).count()).toBe(0);
    await page.getByLabel('Name').fill('ci');
    await page.locator('#scope-events\\:read').check();
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = (await page.getByTestId('token-secret').textContent())!;
    expect(secret).toMatch(/^vmp_[0-9A-Za-z]{36}$/);
    await audit(page, 'tokens');
    const row = page.getByRole('row').filter({ hasText: 'vms:read, events:read' });
    await row.waitFor();
    // The secret works with exactly its scopes.
    await ctx.http.get('/api/events').set('Authorization', `Bearer ${secret}`).expect(200);
    expect((await ctx.http.get('/api/ssh-keys').set('Authorization', `Bearer ${secret}`).expect(403)).body.required_scope).toBe(
      'ssh_keys:read',
    );
    await page.getByRole('button', { name: 'Done' }).click();
    expect(await page.getByTestId('token-secret').count()).toBe(0);
    await row.getByRole('button', { name: 'Revoke token ci' }).click();
    await page.getByRole('dialog', { name: 'Revoke token ci?' }).getByRole('button', { name: 'Revoke' }).click();
    await page.getByText('No API tokens yet.').waitFor();
    await ctx.http.get('/api/events').set('Authorization', `Bearer ${secret}`).expect(401);
  }, 60_000);

  it("lets an admin adjust the user's credits (amount, reason, confirmation); the user's page shows the new balance live", async () => {
    // The user watches their credits page (client-side navigation: the stream stays open).
    await page.getByRole('link', { name: 'Credits' }).click();
    await page.getByTestId('credits-balance').filter({ hasText: '66' }).waitFor();
    await admin.goto(`${baseUrl}/admin/users`);
    await admin.waitForURL('**/signin?next=%2Fadmin%2Fusers');
    await admin.getByLabel('Email').fill(ADMIN.email);
    await admin.getByLabel('Password').fill(ADMIN.password);
    await admin.getByRole('button', { name: 'Sign in' }).click();
    await admin.waitForURL('**/admin/users');
    const row = admin.locator(`tr[data-user="${user.email}"]`);
    await row.waitFor();
    await audit(admin, 'admin-users');
    await row.getByRole('button', { name: `Adjust credits of ${user.username}` }).click();
    const dialog = admin.getByRole('dialog', { name: `Adjust credits of ${user.username}` });
    await dialog.getByLabel('Amount').fill('50');
    // The reason is required: Review does nothing without it.
    await dialog.getByRole('button', { name: 'Review' }).click();
    expect(
      await dialog.getByLabel('Reason').evaluate((el) => (el as unknown as { validity: { valueMissing: boolean } }).validity.valueMissing),
    ).toBe(true);
    await dialog.getByLabel('Reason').fill('Goodwill for the outage');
    await dialog.getByRole('button', { name: 'Review' }).click();
    const confirm = admin.getByRole('dialog', { name: 'Confirm the adjustment' });
    expect(await confirm.getByTestId('adjust-new-balance').textContent()).toBe('116');
    await audit(admin, 'admin-adjust-confirm');
    await confirm.getByRole('button', { name: 'Apply +50 credits' }).click();
    await row.getByRole('cell', { name: '116', exact: true }).waitFor();
    // The user's open credits page follows the event stream: no reload.
    await page.getByTestId('credits-balance').filter({ hasText: '116' }).waitFor();
    await page.getByRole('cell', { name: 'Adjustment by an admin' }).waitFor();
    await page.getByRole('cell', { name: 'Goodwill for the outage' }).waitFor();
  }, 120_000);

  it('resizes the stopped VM with the price difference shown, snapshots it, restores, deletes the snapshot, rebuilds', async () => {
    await page.getByRole('link', { name: 'VMs', exact: true }).click();
    await page.locator('tr[data-vm="web-1"]').getByRole('link', { name: 'web-1' }).click();
    await page.waitForURL(UUID_PATH);
    // Running: no Resize (a VM is resized while stopped), and the card says so.
    await page.getByText('Stop the VM to resize it').waitFor();
    expect(await page.getByRole('button', { name: 'Resize' }).count()).toBe(0);
    await page.getByRole('button', { name: 'Stop' }).click();
    await badge(page).filter({ hasText: 'stopped' }).waitFor({ timeout: 30_000 });

    await page.getByRole('button', { name: 'Resize' }).click();
    const resize = page.getByRole('dialog', { name: 'Resize web-1' });
    const price = resize.getByTestId('resize-price');
    await resize.getByLabel('Memory (MB)').fill('2048');
    await resize.getByLabel('CPU cores').fill('3');
    // A disk only grows: below the VM's 20 GB there is no price (and the browser will not submit it).
    await resize.getByLabel('Disk (GB)').fill('10');
    await price.filter({ hasText: 'Enter a size within the limits' }).waitFor();
    await resize.getByLabel('Disk (GB)').fill('30');
    // 1024 MB, 2 cores, 20 GB cost 34; 2048 MB, 3 cores, 30 GB cost 56 (quota-check): 22 more.
    await price.filter({ hasText: 'Costs 22 more credits (34 → 56), debited now; your balance is 116.' }).waitFor();
    await audit(page, 'vm-resize');
    await resize.getByRole('button', { name: 'Resize', exact: true }).click();
    await badge(page).filter({ hasText: 'resizing' }).waitFor();
    await page.getByRole('status').filter({ hasText: 'Resizing…' }).waitFor();
    await badge(page).filter({ hasText: 'stopped' }).waitFor({ timeout: 30_000 });
    await page.getByText('2 GB · 30 GB · 3 cores').waitFor();
    await page.getByTestId('balance').filter({ hasText: '94' }).waitFor();

    const snapshots = page.locator('section.card', { has: page.getByRole('heading', { name: 'Snapshots' }) });
    await snapshots.getByText('No snapshots.').waitFor();
    await snapshots.getByLabel('Snapshot name').fill('clean');
    await snapshots.getByRole('button', { name: 'Take snapshot' }).click();
    const row = snapshots.locator('tr[data-snapshot="clean"]');
    await row.getByRole('cell', { name: 'available' }).waitFor({ timeout: 30_000 });
    await row.getByRole('cell', { name: '30 GB' }).waitFor();
    // max(1, ceil(30 / 10 * SNAPSHOT_CREDITS_PER_10GB = 1)) = 3.
    await page.getByTestId('balance').filter({ hasText: '91' }).waitFor();
    await audit(page, 'vm-snapshots');

    await row.getByRole('button', { name: 'Restore snapshot clean' }).click();
    await page.getByRole('dialog', { name: 'Restore snapshot clean?' }).getByRole('button', { name: 'Restore' }).click();
    await badge(page).filter({ hasText: 'restoring' }).waitFor();
    // A stopped VM comes back stopped.
    await badge(page).filter({ hasText: 'stopped' }).waitFor({ timeout: 30_000 });
    await page.locator('ol.timeline li[data-action="vm.snapshot_restored"]').waitFor();
    await row.getByRole('button', { name: 'Delete snapshot clean' }).click();
    await page.getByRole('dialog', { name: 'Delete snapshot clean?' }).getByRole('button', { name: 'Delete' }).click();
    await snapshots.getByText('No snapshots.').waitFor({ timeout: 30_000 });

    await page.getByRole('button', { name: 'Rebuild' }).click();
    const rebuild = page.getByRole('dialog', { name: 'Rebuild web-1?' });
    await rebuild.getByRole('option', { name: 'ubuntu-24.04' }).waitFor({ state: 'attached' });
    expect(await rebuild.getByLabel('Operating system').inputValue()).toBe('ubuntu-22.04');
    await audit(page, 'vm-rebuild');
    await rebuild.getByRole('button', { name: 'Rebuild', exact: true }).click();
    await badge(page).filter({ hasText: 'rebuilding' }).waitFor();
    await badge(page).filter({ hasText: 'running' }).waitFor({ timeout: 30_000 });
    expect(page.url()).toBe(`${baseUrl}/vms/${vmId}`);
    await page.getByTestId('balance').filter({ hasText: '91' }).waitFor();
  }, 180_000);

  it('shows admins all VMs with owner and host, all events live with filters, and the hypervisor hosts', async () => {
    await admin.getByRole('link', { name: 'All VMs' }).click();
    const vmRow = admin.locator('tr[data-vm="web-1"]');
    await vmRow.getByRole('cell', { name: `${user.username} (${user.email})` }).waitFor();
    await vmRow.getByRole('cell', { name: 'test-host' }).waitFor();
    await audit(admin, 'admin-vms');

    await admin.getByRole('link', { name: 'Events' }).click();
    await admin.locator('.page-head .live-live').waitFor();
    await admin.locator('li[data-action="admin.credit_adjustment"]').waitFor();
    await admin.getByLabel('Type').selectOption('vm');
    await admin.locator('li[data-action="admin.credit_adjustment"]').waitFor({ state: 'detached' });
    await admin.locator('li[data-action="vm.provisioned"]').first().waitFor();
    // The user restarts the VM: its events arrive on the admin's filtered page as they happen.
    await api('post', `/api/vms/${vmId}/action`, await tokenOf(page))
      .send({ action: 'restart' })
      .expect(202);
    await admin.locator('li[data-action="vm.restarted"]').waitFor({ timeout: 30_000 });
    await audit(admin, 'admin-events');

    await admin.getByRole('link', { name: 'Hosts' }).click();
    const host = admin.locator('tr[data-host="test-host"]');
    await host.getByRole('cell', { name: 'schedulable' }).waitFor();
    await audit(admin, 'admin-hosts');
    await host.getByRole('button', { name: 'Drain' }).click();
    const drain = admin.getByRole('dialog', { name: 'Drain test-host?' });
    await drain.getByLabel('Reason').fill('kernel upgrade');
    await drain.getByRole('button', { name: 'Drain' }).click();
    await host.getByRole('cell', { name: 'drained: kernel upgrade' }).waitFor();
  }, 120_000);

  it('sends the user back to sign-in on a 401, and keeps the token out of URLs, logs, cookies and localStorage', async () => {
    // The tab's sessionStorage keeps it across a reload; new tabs get it from open ones over a
    // same-origin BroadcastChannel (console-first-hour.e2e-spec.ts): nothing another origin can read or send.
    const token = await tokenOf(page);
    expect(token).toMatch(/^ey/);
    expect(requestUrls.length).toBeGreaterThan(20);
    expect(requestUrls.filter((u) => u.includes(token))).toEqual([]);
    expect(logs.filter((l) => l.includes(token))).toEqual([]);
    expect(await page.evaluate('JSON.stringify(localStorage)')).toBe('{}');
    expect(await page.context().cookies()).toEqual([]);

    // A token the server no longer accepts (here: tampered) -> the next call's 401 signs out.
    await page.evaluate(`(() => {
      const s = JSON.parse(${SESSION});
      sessionStorage.setItem('vm-platform.session', JSON.stringify({ ...s, token: s.token + 'x' }));
    })()`);
    await page.goto(`${baseUrl}/credits`);
    await page.waitForURL('**/signin?next=%2Fcredits');
    await page.getByText('Your session has ended. Sign in again.').waitFor();
    expect(await page.evaluate(SESSION)).toBeNull();
  }, 60_000);

  it('runs the console and Swagger UI under the CSP without a single violation or page error', async () => {
    await admin.goto(`${baseUrl}/api/docs`);
    await admin.locator('.swagger-ui .information-container').waitFor();
    expect(problems).toEqual([]);
  }, 60_000);

  it('loads the first page quickly (Navigation Timing, recorded in test-output/console/load.json)', async () => {
    const fresh = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const p = await fresh.newPage();
    await p.goto(`${baseUrl}/signin`, { waitUntil: 'load' });
    await p.getByRole('heading', { name: 'Sign in' }).waitFor();
    // Browser-side code as a string: the test's TypeScript has no DOM types.
    const timing = (await p.evaluate(`(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const paint = performance.getEntriesByType('paint').find((e) => e.name === 'first-contentful-paint');
      const resources = performance.getEntriesByType('resource');
      return {
        domContentLoadedMs: nav.domContentLoadedEventEnd,
        loadMs: nav.loadEventEnd,
        firstContentfulPaintMs: paint ? paint.startTime : null,
        transferBytes: resources.reduce((n, r) => n + r.transferSize, nav.transferSize),
      };
    })()`)) as { domContentLoadedMs: number; loadMs: number; firstContentfulPaintMs: number | null; transferBytes: number };
    await fresh.close();
    await writeFile(join(OUT, 'load.json'), `${JSON.stringify(timing, null, 2)}\n`);
    // Recorded, not asserted against a time (the machine's speed varies): it did load and paint.
    expect(timing.loadMs).toBeGreaterThan(0);
  }, 60_000);
});
