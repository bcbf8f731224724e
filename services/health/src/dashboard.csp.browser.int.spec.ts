import type { EncryptedSecret } from '@s1c/domain';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHealthUnderTest, type HealthUnderTest } from './testing/health.harness';
import { at, NOW, writeScriptedHistory } from './testing/scripted.history';

/**
 * Issue 9, the attacker's suite against the dashboard in real headless Chromium: it renders its
 * data (including a source whose name and description are HTML) with zero Content-Security-Policy
 * violations; the policy is shown to bite (injected inline code is blocked and reported, so the
 * zero is not a detector that never fires); and another origin cannot frame it.
 */

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'csp-token-0123456789abcdef';
const HOSTILE_NAME = '<img src=x onerror="window.__xss=1">"><script>window.__xss=2</script>';
const HOSTILE_DESCRIPTION = '<iframe srcdoc="<script>parent.__xss=3</script>"></iframe><a href="javascript:window.__xss=4">x</a>';
const SECRET: EncryptedSecret = { alg: 'A256GCM', kid: 'k', iv: 'iv', ct: 'ct', tag: 'tag' };

/** Records every securitypolicyviolation the page sees, from before its first script runs. */
const RECORD_VIOLATIONS = `
  window.__violations = [];
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__violations.push(e.violatedDirective + ' ' + e.blockedURI);
    console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI);
  });
`;

describe('the dashboard under a Content-Security-Policy, in headless Chromium', () => {
  let h: HealthUnderTest;
  let browser: Browser;
  let page: Page;
  let framer: Server;
  const consoleErrors: string[] = [];

  const violations = () => page.evaluate<string[]>('window.__violations');

  beforeAll(async () => {
    h = await startHealthUnderTest({ now: NOW, token: TOKEN });
    await writeScriptedHistory(h);
    await h.sources.execute('source-hostile-src', () => ({
      type: 'CreateSource',
      data: {
        sourceId: 'hostile-src',
        collectorId: 'default',
        config: {
          name: HOSTILE_NAME,
          description: HOSTILE_DESCRIPTION,
          category: '<b>bold</b>',
          fields: [],
          baseUrl: 'https://hostile.sentinelone.net',
          supportedApis: ['activities'],
        },
        secret: SECRET,
      },
      metadata: { now: at(2) },
    }));
    await h.caughtUp();
    framer = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(`<!doctype html><iframe id="victim" src="${h.url}"></iframe>`);
    });
    await new Promise<void>((resolve) => framer.listen(0, '127.0.0.1', resolve));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(`page error: ${error.message}`));
    page.on('dialog', (dialog) => {
      consoleErrors.push(`dialog: ${dialog.message()}`);
      void dialog.dismiss();
    });
    await page.addInitScript({ content: RECORD_VIOLATIONS });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (framer ? framer.close(() => resolve()) : resolve()));
    await h?.close();
  });

  it('renders every source, the hostile one as plain text, with zero CSP violations', async () => {
    await page.goto(h.url);
    await page.locator('#token-form').waitFor({ state: 'visible' });
    await page.fill('#token-input', TOKEN);
    await page.click('#token-form button[type=submit]');
    await page.locator('tr[data-source-id="hostile-src"]').waitFor();
    await page.locator('#rows tr').nth(3).waitFor();
    expect(await page.locator('tr[data-source-id="hostile-src"] .name').textContent()).toBe(HOSTILE_NAME);
    await page.click('tr[data-source-id="bravo-src"] button.status-icon');
    await page.locator('#panel-events li').first().waitFor({ state: 'visible' });
    await page.keyboard.press('Escape');
    await page.click('tr[data-source-id="hostile-src"] button.status-icon');
    await expect.poll(() => page.textContent('#panel-source')).toContain(HOSTILE_NAME);
    await page.keyboard.press('Escape');
    expect(await page.evaluate('window.__xss')).toBeUndefined();
    expect(await page.locator('img[src=x], iframe, script:not([src])').count()).toBe(0);
    expect(await violations()).toEqual([]);
    expect(consoleErrors.filter((e) => !e.includes('401'))).toEqual([]);
  });

  it('the policy bites: injected inline script, inline handlers, inline styles and foreign images are blocked and reported', async () => {
    await page.evaluate(`
      const script = document.createElement('script');
      script.textContent = 'window.__xss = 5';
      document.body.append(script);
      document.body.insertAdjacentHTML('beforeend', '<img src="data:," onload="window.__xss = 6"><img src="http://203.0.113.1/pixel.png">');
      document.body.setAttribute('style', 'background: red');
    `);
    await expect.poll(async () => (await violations()).length, { timeout: 5_000 }).toBeGreaterThanOrEqual(3);
    const seen = (await violations()).join('\n');
    expect(seen).toMatch(/script-src/);
    expect(seen).toMatch(/img-src/);
    expect(seen).toMatch(/style-src/);
    expect(await page.evaluate('window.__xss')).toBeUndefined();
  });

  it('another origin cannot frame it (frame-ancestors, X-Frame-Options)', async () => {
    const other = await browser.newPage();
    const refused: string[] = [];
    other.on('console', (message) => refused.push(message.text()));
    const framerUrl = `http://127.0.0.1:${(framer.address() as AddressInfo).port}/`;
    await other.goto(framerUrl);
    await expect.poll(() => refused.join('\n'), { timeout: 10_000 }).toMatch(/frame-ancestors|X-Frame-Options|Refused to (display|frame)/);
    const child = other.frames().find((frame) => frame !== other.mainFrame());
    expect(child?.url() ?? '').not.toBe(h.url);
    await other.close();
  });
});
