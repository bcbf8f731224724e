import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHealthUnderTest, type HealthUnderTest } from './testing/health.harness';
import { micros, NOW, writeScriptedHistory } from './testing/scripted.history';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(__dirname, '..', 'test-artifacts');
const TOKEN = 'browser-token-0123456789abcdef';

describe('the dashboard in headless Chromium', () => {
  let h: HealthUnderTest;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium is missing at ${CHROMIUM}: install Debian's package with \`apt-get install -y chromium\` (playwright-core drives it; no browser is downloaded).`);
    }
    h = await startHealthUnderTest({ now: NOW, token: TOKEN });
    await writeScriptedHistory(h);
    await h.caughtUp();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 640 } });
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('request', (request) => {
      if (!request.url().startsWith(h.url)) problems.push(`request outside the service: ${request.url()}`);
    });
    await page.addInitScript({
      content: "document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));",
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it('asks for the token, then shows a healthy, a warning and an errored source', async () => {
    await page.goto(h.url);
    await page.locator('#token-form').waitFor({ state: 'visible' });
    await page.fill('#token-input', TOKEN);
    await page.click('#token-form button[type=submit]');
    await page.locator('#rows tr').nth(2).waitFor();
    const rows = await page.$$eval('#rows tr', (trs) =>
      trs.map((tr) => ({ id: tr.getAttribute('data-source-id'), icon: tr.querySelector('button.status-icon')?.className, name: tr.querySelector('.name')?.textContent })),
    );
    expect(rows).toEqual([
      { id: 'alpha-src', icon: 'status-icon icon-warning', name: 'Alpha SOC' },
      { id: 'bravo-src', icon: 'status-icon icon-error', name: 'Bravo Corp' },
      { id: 'charlie-src', icon: 'status-icon icon-healthy', name: 'Charlie Ltd' },
    ]);
    await expect.poll(() => page.textContent('#summary')).toBe('3 sources: 1 healthy, 1 with warnings, 1 in error');
    // Per source and API: backfill bar, lag and sparkline.
    const alpha = page.locator('tr[data-source-id="alpha-src"]');
    expect(await alpha.locator('[role=progressbar]').getAttribute('aria-valuenow')).toBe('50');
    expect(await alpha.locator('.apis').textContent()).toContain('lag 5 min');
    expect(await alpha.locator('svg.spark').count()).toBe(2);
    expect(await alpha.locator('svg.spark').first().getAttribute('aria-label')).toBe('2050 records in the last hour, at most 1000 per minute');
  });

  it('shows the counts of errors and warnings when hovering the icon', async () => {
    await page.hover('tr[data-source-id="bravo-src"] button.status-icon');
    await expect.poll(() => page.textContent('#tooltip')).toBe('1 error, 0 warnings');
    expect(await page.isVisible('#tooltip')).toBe(true);
    expect(await page.isVisible('#token-form')).toBe(false);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    await page.hover('tr[data-source-id="alpha-src"] button.status-icon');
    await expect.poll(() => page.textContent('#tooltip')).toBe('0 errors, 1 warning');
    await page.hover('tr[data-source-id="charlie-src"] button.status-icon');
    await expect.poll(() => page.textContent('#tooltip')).toBe('0 errors, 0 warnings');
    await page.mouse.move(5, 600);
    expect(await page.isVisible('#tooltip')).toBe(false);
  });

  it('opens the Health Events panel with the event, its time, reason and what to do', async () => {
    await page.click('tr[data-source-id="bravo-src"] button.status-icon');
    const event = page.locator(`#panel-events li[data-event-id="health-bravo-src-threats-ThirdPartyConfig-${micros(4)}"]`);
    await event.waitFor({ state: 'visible' });
    expect(await page.isVisible('#panel')).toBe(true);
    expect(await event.locator('.event-name').textContent()).toBe('ThirdPartyConfigError');
    expect(await event.locator('.event-reason').textContent()).toContain('HTTP 401 from SentinelOne: the API token was refused');
    expect(await event.locator('.event-action').textContent()).toBe(
      'Check the API token, its permissions and base_url; then update the source (or restart it once fixed in SentinelOne).',
    );
    expect(await event.locator('.event-meta').textContent()).toMatch(/2026.*threats · 1 occurrence/);
    expect(await page.textContent('#panel-source')).toBe('Bravo Corp — Error, 1 error, 0 warnings open');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-panel.png'), fullPage: true });
    await page.keyboard.press('Escape');
    expect(await page.isVisible('#panel')).toBe(false);
  });

  it('updates without a reload when the log changes', async () => {
    await page.evaluate('window.marker = 1');
    // Bravo is fixed: restarted, replanned (which resolves its error) and collecting again.
    const now = new Date(NOW.getTime() + 60_000);
    await h.sources.execute('source-bravo-src', () => ({ type: 'RestartSource', data: { sourceId: 'bravo-src' }, metadata: { now } }));
    await h.collections.execute('collection-bravo-src-threats', () => ({
      type: 'PlanCollection',
      data: { sourceId: 'bravo-src', api: 'threats', generation: 2, baseUrl: 'https://bravo-corp.sentinelone.net', backfillMs: 86_400_000 },
      metadata: { now },
    }));
    await expect
      .poll(() => page.getAttribute('tr[data-source-id="bravo-src"] button.status-icon', 'class'), { timeout: 15_000, interval: 250 })
      .toBe('status-icon icon-healthy');
    // Still the same page: no reload happened.
    expect(await page.evaluate('window.marker')).toBe(1);
  });

  it('ran without console errors, CSP violations or requests elsewhere', () => {
    expect(problems.filter((p) => !p.includes('401'))).toEqual([]);
  });
});
