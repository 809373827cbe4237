import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestTollgate, OPERATOR_KEY, type TestTollgate } from '../helpers/tollgate.js';

const HOUR = 3_600_000;
const usd = (amount: string) =>
  `$${Number(amount).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;

/** The dashboard in Chromium, against the real API on 127.0.0.1: it shows what the API answers. */
describe('dashboard', () => {
  let tollgate: TestTollgate;
  let server: ServerType;
  let url: string;
  let browser: Browser;
  let tenant: { id: string; key: string };

  beforeAll(async () => {
    tollgate = await createTestTollgate({ env: { TOLLGATE_ROLLUP_LAG_SECONDS: '0' } });
    tenant = await tollgate.createTenant('Dashboard');
    const now = Date.now();
    const event = (id: string, hoursAgo: number, model: string, input: number, feature: string) => ({
      id,
      timestamp: new Date(now - hoursAgo * HOUR).toISOString(),
      provider: 'openai',
      model,
      usage: { input_tokens: input, output_tokens: 1000 },
      dimensions: { feature, customer: 'acme' },
    });
    const ingest = await tollgate.request('POST', '/v1/usage', {
      key: tenant.key,
      body: {
        events: [
          event('d1', 1, 'gpt-4o', 400_000, 'support'),
          event('d2', 2, 'gpt-4o-mini', 2_000_000, 'search'),
          // Tenant apps choose dimension values: the page must show them as text, never run them.
          event('d3', 3, 'gpt-4o', 1000, '<img src=x onerror="document.title=\'pwned\'">'),
        ],
      },
    });
    expect((await ingest.json()).accepted).toBe(3);
    const rollup = await tollgate.request('POST', `/v1/admin/jobs/kpi-rollup/run?tenant_id=${tenant.id}`, {
      key: OPERATOR_KEY,
    });
    expect(rollup.status).toBe(200);

    server = await new Promise<ServerType>((resolve) => {
      const started = serve({ fetch: tollgate.app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
        resolve(started),
      );
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await tollgate?.cleanup();
  });

  async function open(key: string): Promise<Page> {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${url}/dashboard`);
    await page.fill('#key', key);
    await page.fill('#timezone', 'UTC');
    await page.click('button[type=submit]');
    expect(errors).toEqual([]);
    return page;
  }

  it('shows the month, the drivers and the breakdown exactly as the API answers them', async () => {
    const summary = await (
      await tollgate.request('GET', '/v1/kpis/summary?timezone=UTC', { key: tenant.key })
    ).json();
    const page = await open(tenant.key);
    await page.locator('#content').waitFor({ state: 'visible', timeout: 15_000 });
    expect(await page.textContent('#mtd-cost')).toBe(usd(summary.month_to_date.cost));
    expect(await page.textContent('#burn-rate')).toBe(usd(summary.burn_rate_per_day));
    expect(await page.textContent('#forecast')).toBe(usd(summary.forecast.cost));

    // The breakdown by model: gpt-4o-mini 2M×$0.15 + 1000×$0.60 = $0.3006; gpt-4o 401k×$2.50 + 2000×$10 = $1.0225.
    const rows = await page.locator('#breakdown tbody tr').allTextContents();
    expect(rows).toHaveLength(2);
    expect(rows[0]).toContain('gpt-4o');
    expect(rows[0]).toContain('$1.02');
    expect(rows[1]).toContain('gpt-4o-mini');
    expect(rows[1]).toContain('$0.30');

    // Switch the breakdown to a dimension the month's drivers name.
    await page.selectOption('#group-by', 'feature');
    await page.locator('#group-name', { hasText: 'feature' }).waitFor();
    await page.locator('#breakdown tbody tr', { hasText: 'search' }).waitFor();
    const features = await page.locator('#breakdown tbody tr td:first-child').allTextContents();
    expect(features).toContain('<img src=x onerror="document.title=\'pwned\'">');
    expect(await page.title()).toBe('Tollgate dashboard');
    expect(await page.locator('#breakdown img').count()).toBe(0);
    await page.close();
  });

  it("shows a key restricted to a slice that slice's days and breakdown, and says the month summary is tenant-wide", async () => {
    const view = await tollgate.mintKey(tenant.key, {
      name: 'acme dashboard',
      scopes: ['read'],
      restrict: { customer: 'acme' },
    });
    const page = await open(view.key);
    await page.locator('#content').waitFor({ state: 'visible', timeout: 15_000 });
    expect(await page.textContent('#status')).toBe('');
    expect(await page.textContent('#mtd-cost')).toBe('—');
    expect(await page.textContent('#forecast-band')).toBe('Tenant-wide: needs a key without a restriction');
    const rows = await page.locator('#breakdown tbody tr').allTextContents();
    expect(rows).toHaveLength(2);
    expect(rows[0]).toContain('$1.02');
    expect(rows[1]).toContain('$0.30');
    await page.close();
  });

  it('says why when the key is refused, and shows nothing', async () => {
    const page = await open('tg_not_a_real_key');
    await page.locator('#status', { hasText: 'Authentication required' }).waitFor({ timeout: 15_000 });
    expect(await page.locator('#content').isHidden()).toBe(true);
    await page.close();
  });

  it('is served with a policy that only runs its own script', async () => {
    const response = await fetch(`${url}/dashboard`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
    const script = await fetch(`${url}/dashboard/app.js`);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await script.text()).toContain('/v1/kpis/summary');
  });
});
