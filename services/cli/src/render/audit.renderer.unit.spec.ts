import { reencryptReplySchema, sourceHistoryReplySchema } from '@s1c/contracts';
import { describe, expect, it } from 'vitest';
import { renderHistory, renderReencryptReply } from './audit.renderer';
import { plainStyle } from './style';

const via = { account: 'GATEWAY', user: 'gateway', host: '10.0.0.9', clientName: 's1c-gateway' };
const history = sourceHistoryReplySchema.parse({
  ok: true,
  sourceId: 'src-1',
  entries: [
    {
      version: 1,
      at: '2026-11-27T10:00:00.000Z',
      type: 'SourceCreated',
      actor: { kind: 'nats', account: 'OPERATORS', user: 'alice', host: '10.0.0.5', clientName: 's1c' },
      correlationId: 'c1',
      changes: [
        { path: 'name', from: null, to: 'Acme' },
        { path: 'api_secret', from: null, to: '********', masked: true },
      ],
    },
    {
      version: 2,
      at: '2026-11-27T10:05:00.000Z',
      type: 'SourceUpdated',
      actor: { kind: 'http', caller: 'ops', ip: '10.1.2.3', verified: true, via },
      correlationId: 'c2',
      changes: [
        { path: 'supported_apis', from: ['agents'], to: ['agents', 'threats'] },
        { path: 'api_secret', from: '********', to: '********', masked: true },
      ],
    },
    { version: 3, at: '2026-11-27T10:06:00.000Z', type: 'SourceSecretReencrypted', actor: { kind: 'legacy', name: 'evil\u001b[31m' }, correlationId: null, changes: [] },
  ],
});

describe('renderHistory', () => {
  it('shows one line per event: version, time, who, event and each change, secrets only as set/replaced', () => {
    const text = renderHistory(history, plainStyle);
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^VERSION\s+TIME\s+WHO\s+EVENT\s+CHANGES$/);
    expect(lines[1]).toContain('alice@OPERATORS from 10.0.0.5 (s1c)');
    expect(lines[1]).toContain('name: (none) -> "Acme"; api_secret set (masked)');
    expect(lines[2]).toContain('http ops from 10.1.2.3 via gateway@GATEWAY');
    expect(lines[2]).toContain('supported_apis: [agents] -> [agents,threats]; api_secret replaced (masked)');
    expect(lines[3]).toMatch(/SourceSecretReencrypted\s+-$/);
    expect(text).not.toContain('\u001b');
  });

  it('says so when there is nothing', () => {
    expect(renderHistory({ ok: true, sourceId: 'x', entries: [] }, plainStyle)).toBe('No history for source x.\n');
  });
});

describe('renderReencryptReply', () => {
  it('counts what was re-encrypted and current, and names each failure with what to do', () => {
    const text = renderReencryptReply(
      reencryptReplySchema.parse({ ok: true, keyId: 'b', reencrypted: ['s1', 's2'], current: ['s3'], failed: [{ id: 's4', reason: 'no configured key has id a' }] }),
      plainStyle,
    );
    expect(text).toContain('(b)');
    expect(text).toContain('re-encrypted: 2');
    expect(text).toContain('already current: 1');
    expect(text).toContain('failed: 1\n    s4: no configured key has id a');
    expect(text).toContain('add the key it was encrypted with to S1C_SECRET_KEY');
  });
});
