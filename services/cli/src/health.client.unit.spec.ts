import { describe, expect, it } from 'vitest';
import { settingsFrom } from './cli.env';
import { CliError, EXIT } from './cli.errors';
import { HealthClient } from './health.client';
import { ProgressReporter } from './progress.reporter';

const TOKEN = 'health-api-token-0123456789';
const settings = settingsFrom({ S1C_HEALTH_URL: 'http://health:8080/', S1C_API_TOKEN: TOKEN }, { timeout: 1000 });

const status = (id: string) => ({
  id,
  name: id,
  collectorId: 'default',
  state: 'Collecting',
  since: '2026-11-27T11:00:00Z',
  reason: 'r',
  health: 'healthy',
  openErrors: 0,
  openWarnings: 0,
  openHealthEvents: [],
  apis: [],
});

/** A fetch that answers from a table and records what it was asked. */
function fakeFetch(answer: (url: string) => { status: number; body: unknown } | Error) {
  const asked: { url: string; headers: Record<string, string> }[] = [];
  const fn = (async (url: string, init: { headers: Record<string, string> }) => {
    asked.push({ url, headers: init.headers });
    const a = answer(url);
    if (a instanceof Error) throw a;
    return new Response(typeof a.body === 'string' ? a.body : JSON.stringify(a.body), { status: a.status });
  }) as unknown as typeof fetch;
  return { fn, asked };
}

async function failure(work: Promise<unknown>): Promise<CliError> {
  try {
    await work;
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    return error as CliError;
  }
  throw new Error('expected a failure');
}

describe('the health API client', () => {
  it('reads every page, sending the bearer token', async () => {
    const { fn, asked } = fakeFetch((url) => {
      const offset = Number(new URL(url).searchParams.get('offset'));
      return { status: 200, body: { items: offset === 0 ? Array.from({ length: 500 }, (_, i) => status(`s${i}`)) : [status('last')], total: 501, limit: 500, offset } };
    });
    const { items } = await new HealthClient(settings, fn).sources();
    expect(items).toHaveLength(501);
    expect(asked.map((a) => a.url)).toEqual(['http://health:8080/api/v1/sources?limit=500&offset=0', 'http://health:8080/api/v1/sources?limit=500&offset=500']);
    expect(asked[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('a 401 or a 404 is a refusal (exit 1); the token is never in the message', async () => {
    const unauthorized = await failure(new HealthClient(settings, fakeFetch(() => ({ status: 401, body: { error: { code: 'Unauthorized', message: 'x' } } })).fn).sources());
    expect([unauthorized.exitCode, unauthorized.message]).toEqual([EXIT.refused, 'the health API at http://health:8080 wants a bearer token: S1C_API_TOKEN was refused']);
    const missing = await failure(new HealthClient(settings, fakeFetch(() => ({ status: 404, body: { error: { code: 'NotFound', message: 'no source nope' } } })).fn).source('nope'));
    expect([missing.exitCode, missing.message]).toEqual([EXIT.refused, 'NotFound: no source nope']);
    expect(`${unauthorized.message}${missing.message}`).not.toContain(TOKEN);
  });

  it('an unreachable API is exit 3, a slow one exit 4, a body off contract exit 5', async () => {
    const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    const down = await failure(new HealthClient(settings, fakeFetch(() => refused).fn).sources());
    expect([down.exitCode, down.message]).toEqual([EXIT.unreachable, 'cannot reach the health API at http://health:8080: connection refused']);
    const slow = await failure(new HealthClient(settings, fakeFetch(() => Object.assign(new Error('t'), { name: 'TimeoutError' })).fn).sources());
    expect(slow.exitCode).toBe(EXIT.timeout);
    const odd = await failure(new HealthClient(settings, fakeFetch(() => ({ status: 200, body: { ...status('a'), health: 'purple' } })).fn).source('a'));
    expect(odd.exitCode).toBe(EXIT.badReply);
    expect(odd.lines[0]).toMatch(/^health: /);
    const html = await failure(new HealthClient(settings, fakeFetch(() => ({ status: 502, body: '<html>bad gateway</html>' })).fn).source('a'));
    expect([html.exitCode, html.message]).toEqual([EXIT.badReply, 'the health API at http://health:8080 answered /api/v1/sources/a with 502 and a body that is not JSON']);
  });
});

describe('progress', () => {
  it('off a terminal writes only the step lines', () => {
    let text = '';
    const progress = new ProgressReporter({ write: (t: string) => (text += t), isTTY: false });
    progress.waiting('waiting for Collecting');
    progress.step('a → b');
    progress.stop();
    expect(text).toBe('a → b\n');
  });

  it('on a terminal draws a spinner and clears it around each step', () => {
    let text = '';
    const progress = new ProgressReporter({ write: (t: string) => (text += t), isTTY: true });
    progress.waiting('waiting for Collecting');
    progress.step('a → b');
    progress.stop();
    const clear = '\r\u001b[K';
    expect(text.split(clear).slice(1).map((part) => part.replace(/^[\u2800-\u28ff] /, '<spinner> '))).toEqual(['<spinner> waiting for Collecting', 'a → b\n', '<spinner> waiting for Collecting', '']);
  });
});
