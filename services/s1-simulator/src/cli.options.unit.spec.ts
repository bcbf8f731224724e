import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HELP, parseCli, parseTokenFlag } from './cli.options.js';

describe('parseCli', () => {
  it('reads the documented example', () => {
    const result = parseCli(['--port', '8088', '--seed', '1', '--activities', '100000', '--token', 'demo-token']);
    expect(result).toMatchObject({ kind: 'run', options: { port: 8088, seed: 1, activities: 100_000, tokens: [{ token: 'demo-token' }] } });
  });

  it('defaults to port 8088 and no live traffic', () => {
    expect(parseCli([])).toMatchObject({ kind: 'run', options: { port: 8088, live: { activitiesPerSecond: 0 } } });
  });

  it('applies --live and lets single rates override it', () => {
    const result = parseCli(['--live', '--threats-per-second', '3']);
    expect(result).toMatchObject({ kind: 'run', options: { live: { activitiesPerSecond: 5, threatsPerSecond: 3 } } });
  });

  it('merges a --config file under the flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 's1sim-'));
    const file = join(dir, 'sim.json');
    writeFileSync(file, JSON.stringify({ activities: 42, agents: 7, tokens: [{ token: 'x', label: 'x', accounts: [1] }] }));
    expect(parseCli(['--config', file, '--agents', '9'])).toMatchObject({ kind: 'run', options: { activities: 42, agents: 9, tokens: [{ accounts: [1] }] } });
  });

  it.each([
    [['--port', 'eighty'], /port must be a number/],
    [['--port', '70000'], /port/],
    [['--clock', 'sundial'], /clock/],
    [['--limit', '5'], /Unknown option/],
    [['--token', 'a:b:apis=everything'], /apis/],
    [['--token', 'a:b:colour=red'], /unknown key/],
    [['--start-time', 'noon'], /startTime/],
  ])('gives a clear error for %j', (argv, message) => {
    const result = parseCli(argv);
    expect(result.kind).toBe('error');
    expect(result.kind === 'error' && result.message).toMatch(message);
  });

  it('documents every flag in --help', () => {
    expect(parseCli(['--help'])).toEqual({ kind: 'help' });
    for (const flag of ['--port', '--seed', '--activities', '--agents', '--threats', '--token', '--config', '--live', '--rate-limit', '--cursor-ttl-ms', '--clock', '--admin-token']) {
      expect(HELP).toContain(flag);
    }
  });
});

describe('parseTokenFlag', () => {
  it('reads a scoped token with colons kept in its expiry', () => {
    expect(parseTokenFlag('acme:s3cret:apis=activities,threats:accounts=0,2:sites=1:rate=5:expires=2030-01-01T00:00:00Z')).toEqual({
      label: 'acme',
      token: 's3cret',
      apis: ['activities', 'threats'],
      accounts: [0, 2],
      sites: [1],
      rateLimitPerSecond: 5,
      expiresAt: '2030-01-01T00:00:00Z',
    });
  });

  it('treats a bare value as a full-access token', () => {
    expect(parseTokenFlag('demo-token')).toEqual({ token: 'demo-token' });
    expect(parseCli(['--token', 'a', '--token', 'b'])).toMatchObject({ kind: 'run', options: { tokens: [{ token: 'a' }, { token: 'b' }] } });
  });
});
