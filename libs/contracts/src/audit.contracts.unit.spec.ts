import { describe, expect, it } from 'vitest';
import { actorFromMetadata, natsRequestInfoSchema, onBehalfOfSchema } from './audit.contracts';

describe('actorFromMetadata', () => {
  it('reads a structured actor as it was stored', () => {
    const actor = { kind: 'nats', account: 'OPERATORS', user: 'alice', host: '10.0.0.5', clientName: null };
    expect(actorFromMetadata(actor)).toEqual(actor);
  });

  it('reads an older bare string actor as a legacy actor', () => {
    expect(actorFromMetadata('fetcher-agents')).toEqual({ kind: 'legacy', name: 'fetcher-agents' });
  });

  it.each([undefined, null, 42, { kind: 'root' }, { kind: 'http', caller: 'x' }])('reads %j as the legacy actor "unknown"', (stored) => {
    expect(actorFromMetadata(stored)).toEqual({ kind: 'legacy', name: 'unknown' });
  });
});

describe('the identity headers', () => {
  it('keeps the fields of Nats-Request-Info we record and drops the rest', () => {
    const info = natsRequestInfoSchema.parse({ acc: 'OPERATORS', user: 'alice', host: '10.0.0.5', name: 's1c-cli', rtt: 12, server: 'N1' });
    expect(info).toEqual({ acc: 'OPERATORS', user: 'alice', host: '10.0.0.5', name: 's1c-cli' });
  });

  it('accepts an on-behalf-of claim with a caller name and an address, and nothing else', () => {
    expect(onBehalfOfSchema.parse({ caller: 'ops-team', ip: '10.1.2.3' })).toEqual({ caller: 'ops-team', ip: '10.1.2.3' });
    expect(onBehalfOfSchema.safeParse({ caller: 'ops team', ip: null }).success).toBe(false);
    expect(onBehalfOfSchema.safeParse({ caller: 'ops', ip: null, admin: true }).success).toBe(false);
  });
});
