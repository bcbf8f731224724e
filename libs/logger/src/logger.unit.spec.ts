import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, NestLogger } from './logger';
import { registerSecret } from './redaction';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger({ name: 'test', level: 'trace', destination });
  return { logger, text: () => lines.join('\n'), json: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const TOKEN = 'eK9xQ2mZ7vT4pL8sR1nB6wY3';

describe('logger redaction', () => {
  it('when a payload carries api_secret deep inside, then the value is replaced', () => {
    const { logger, text, json } = capture();
    logger.info({ command: { source: { config: { api_secret: TOKEN, name: 'S1' } } } }, 'received');
    expect(text()).not.toContain(TOKEN);
    expect(json()[0]).toMatchObject({ command: { source: { config: { api_secret: '[REDACTED]', name: 'S1' } } }, msg: 'received' });
  });

  it('when request headers are logged, then Authorization is replaced whatever its case', () => {
    const { logger, text } = capture();
    logger.warn({ req: { headers: { Authorization: `ApiToken ${TOKEN}`, 'x-other': 'fine' } } });
    logger.warn({ headers: [['authorization', `ApiToken ${TOKEN}`]] });
    expect(text()).not.toContain(TOKEN);
    expect(text()).toContain('fine');
  });

  it('when a message or format argument contains a token, then it is scrubbed', () => {
    const { logger, text } = capture();
    logger.info(`calling with Authorization: ApiToken ${TOKEN}`);
    logger.info('body %s', JSON.stringify({ api_secret: TOKEN }));
    logger.info('bearer Bearer %s', TOKEN);
    expect(text()).not.toContain(TOKEN);
  });

  it('when an error (with a cause and own fields) mentions a token, then message, stack and fields are scrubbed', () => {
    const { logger, text, json } = capture();
    const cause = new Error(`upstream said api_secret=${TOKEN}`);
    const error = Object.assign(new Error(`failed with ApiToken ${TOKEN}`, { cause }), { request: { apiToken: TOKEN }, status: 401 });
    logger.error({ err: error }, 'boom');
    expect(text()).not.toContain(TOKEN);
    expect(json()[0]).toMatchObject({ err: { type: 'Error', status: 401, request: { apiToken: '[REDACTED]' } } });
  });

  it('when a registered secret appears anywhere, even without a hint, then it is replaced', () => {
    const { logger, text } = capture();
    const raw = 'plainvalue-9f8e7d6c5b4a';
    registerSecret(raw);
    logger.info({ note: `the value was ${raw}` }, `and here ${raw}`);
    const child = logger.child({ leaked: raw });
    child.info('child line');
    expect(text()).not.toContain(raw);
  });

  it('keeps ordinary fields, counts and booleans', () => {
    const { logger, json } = capture();
    logger.info({ sourceId: 's1', tokenCount: 3, hasToken: true, nextCursor: 'abc' }, 'ok');
    expect(json()[0]).toMatchObject({ sourceId: 's1', tokenCount: 3, hasToken: true, nextCursor: 'abc', service: 'test', level: 'info' });
  });

  it('survives cycles', () => {
    const { logger, json } = capture();
    const a: Record<string, unknown> = { name: 'a' };
    a.self = a;
    logger.info({ a });
    expect(json()[0]).toMatchObject({ a: { name: 'a', self: '[Circular]' } });
  });

  it('routes NestJS messages with their context and redacts them', () => {
    const { logger, json, text } = capture();
    const nest = new NestLogger(logger);
    nest.log(`started with ApiToken ${TOKEN}`, 'RegistryModule');
    nest.error(new Error('bad'), 'trace', 'Ctx');
    expect(text()).not.toContain(TOKEN);
    expect(json()[0]).toMatchObject({ context: 'RegistryModule', level: 'info' });
    expect(json()[1]).toMatchObject({ context: 'Ctx', level: 'error', msg: 'bad' });
  });
});
