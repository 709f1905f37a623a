import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { CHROMIUM_OPTIONS, describeInBrowser } from '../support/browser';
import { newUser, TestUser } from '../support/factories';
import { createTestApp, TestContext } from '../support/test-app';

describeInBrowser('Swagger UI in a real browser (e2e)', () => {
  let ctx: TestContext;
  let user: TestUser;
  let browser: BrowserContext;
  let profile: string;
  let baseUrl: string;

  beforeAll(async () => {
    ctx = await createTestApp();
    user = await newUser(ctx);
    await ctx.app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${(ctx.app.getHttpServer().address() as AddressInfo).port}`;
    profile = await mkdtemp(join(tmpdir(), 'vmapi-chromium-'));
    // A fresh profile folder (playwright passes it as --user-data-dir).
    browser = await chromium.launchPersistentContext(profile, { ...CHROMIUM_OPTIONS, viewport: { width: 1280, height: 1000 } });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await rm(profile, { recursive: true, force: true });
    await ctx.close();
  });

  it('authorizes with a bearer token and executes GET /api/users/me with a 200', async () => {
    const page = await browser.newPage();
    await page.goto(`${baseUrl}/api/docs`);
    await page.locator('.scheme-container button.authorize').click();
    await page.locator('.modal-ux input[type=text]').first().fill(user.token);
    await page.locator('.modal-ux .auth-btn-wrapper button.authorize').click();
    await page.locator('.modal-ux button.btn-done').click();

    const op = page.locator('#operations-users-getCurrentUser');
    await op.locator('.opblock-summary').click();
    await op.locator('button.try-out__btn').click();
    await op.locator('button.execute').click();
    const status = op.locator('.live-responses-table tr.response .response-col_status').first();
    await status.waitFor({ timeout: 15_000 });
    expect((await status.textContent())?.trim()).toBe('200');
    expect(await op.locator('.live-responses-table .microlight').first().textContent()).toContain(user.email);

    await mkdir('test-output', { recursive: true });
    await status.scrollIntoViewIfNeeded();
    await page.screenshot({ path: 'test-output/swagger-ui-users-me.png', fullPage: false });
  }, 60_000);

  it('Try it out on create VM answers 202 for a new user with the body as Swagger UI fills it in', async () => {
    const fresh = await newUser(ctx);
    const page = await browser.newPage();
    await page.goto(`${baseUrl}/api/docs`);
    // persistAuthorization kept the first test's token: sign in as the new user instead.
    await page.evaluate('localStorage.clear()');
    await page.reload();
    await page.locator('.scheme-container button.authorize').click();
    await page.locator('.modal-ux input[type=text]').first().fill(fresh.token);
    await page.locator('.modal-ux .auth-btn-wrapper button.authorize').click();
    await page.locator('.modal-ux button.btn-done').click();

    const op = page.locator('#operations-vms-createVm');
    await op.locator('.opblock-summary').click();
    await op.locator('button.try-out__btn').click();
    // The body as written from the document's examples: no edits.
    const body = JSON.parse(await op.locator('textarea.body-param__text').inputValue()) as Record<string, unknown>;
    expect(JSON.stringify(body)).not.toMatch(/3fa85f64|"string"/);
    await op.locator('button.execute').click();
    const status = op.locator('.live-responses-table tr.response .response-col_status').first();
    await status.waitFor({ timeout: 15_000 });
    const answer = await op.locator('.live-responses-table .microlight').first().textContent();
    expect(`${(await status.textContent())?.trim()} ${answer}`).toMatch(/^202 /);
    const [{ count }] = await ctx.db.query('SELECT count(*)::int AS count FROM vms WHERE user_id = $1', [fresh.id]);
    expect(count).toBe(1);
  }, 60_000);
});
