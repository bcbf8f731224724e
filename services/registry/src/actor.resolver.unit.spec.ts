import { createLogger } from '@s1c/logger';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { resolveActor } from './actor.resolver';

const INFO = JSON.stringify({ acc: 'OPERATORS', user: 'alice', host: '10.0.0.5', name: 's1c-cli', rtt: 1, server: 'N' });
const GATEWAY_INFO = JSON.stringify({ acc: 'GATEWAY', user: 'gateway', host: '10.0.0.9', name: 's1c-gateway' });
const CLAIM = JSON.stringify({ caller: 'ops', ip: '10.1.2.3' });
const gatewayVia = { account: 'GATEWAY', user: 'gateway', host: '10.0.0.9', clientName: 's1c-gateway' };

function resolve(headers: Record<string, string>, trusted: string[] = ['gateway']) {
  const lines: string[] = [];
  const logger = createLogger({ name: 'test', level: 'debug', destination: new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) }) });
  const actor = resolveActor((name) => headers[name], trusted, logger);
  return { actor, log: lines.join('') };
}

describe('resolveActor', () => {
  it('given Nats-Request-Info, then the actor is that NATS user', () => {
    expect(resolve({ 'Nats-Request-Info': INFO }).actor).toEqual({ kind: 'nats', account: 'OPERATORS', user: 'alice', host: '10.0.0.5', clientName: 's1c-cli' });
  });

  it('given no headers (NATS without authentication), then the actor is an unauthenticated NATS client', () => {
    expect(resolve({}).actor).toEqual({ kind: 'nats', account: null, user: null, host: null, clientName: null });
  });

  it('given a malformed Nats-Request-Info, then it counts as absent, with a warning', () => {
    for (const bad of ['{not json', '[]', JSON.stringify({ user: 42 })]) {
      const { actor, log } = resolve({ 'Nats-Request-Info': bad });
      expect(actor).toEqual({ kind: 'nats', account: null, user: null, host: null, clientName: null });
      expect(log).toContain('malformed Nats-Request-Info');
    }
  });

  it('given a claim from a trusted gateway user, then the actor is the HTTP caller, verified', () => {
    expect(resolve({ 'Nats-Request-Info': GATEWAY_INFO, 'S1c-On-Behalf-Of': CLAIM }).actor).toEqual({
      kind: 'http',
      caller: 'ops',
      ip: '10.1.2.3',
      verified: true,
      via: gatewayVia,
    });
  });

  it('given an ACCOUNT/user entry, then only that user of that account is trusted', () => {
    expect(resolve({ 'Nats-Request-Info': GATEWAY_INFO, 'S1c-On-Behalf-Of': CLAIM }, ['GATEWAY/gateway']).actor.kind).toBe('http');
    const elsewhere = JSON.stringify({ acc: 'OPERATORS', user: 'gateway' });
    expect(resolve({ 'Nats-Request-Info': elsewhere, 'S1c-On-Behalf-Of': CLAIM }, ['GATEWAY/gateway']).actor).toMatchObject({ kind: 'nats', user: 'gateway' });
  });

  it('given a claim from another authenticated user, then it is ignored with a warning and the user is recorded', () => {
    const { actor, log } = resolve({ 'Nats-Request-Info': INFO, 'S1c-On-Behalf-Of': CLAIM });
    expect(actor).toMatchObject({ kind: 'nats', user: 'alice' });
    expect(log).toContain('not a trusted gateway');
  });

  it('given a claim without NATS authentication, then it is recorded but marked unverified', () => {
    expect(resolve({ 'S1c-On-Behalf-Of': CLAIM }).actor).toEqual({
      kind: 'http',
      caller: 'ops',
      ip: '10.1.2.3',
      verified: false,
      via: { account: null, user: null, host: null, clientName: null },
    });
  });

  it('given a malformed claim, then it is ignored with a warning', () => {
    for (const bad of ['nope', JSON.stringify({ caller: 'a b', ip: null }), JSON.stringify({ caller: 'ops', ip: null, role: 'admin' })]) {
      const { actor, log } = resolve({ 'Nats-Request-Info': GATEWAY_INFO, 'S1c-On-Behalf-Of': bad });
      expect(actor).toEqual({ kind: 'nats', ...gatewayVia });
      expect(log).toContain('malformed S1c-On-Behalf-Of');
    }
  });
});
