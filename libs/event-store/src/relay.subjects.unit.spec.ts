import type { RecordedEvent } from './event.types';
import { describe, expect, it } from 'vitest';
import { nameStreamId, relaySubjectFor } from './relay.subjects';

const event = (streamId: string, type = 'HealthEventRaised') => ({ streamId, type }) as RecordedEvent;

describe('relaySubjectFor', () => {
  it('relays each kind of stream on its own subject', () => {
    expect(relaySubjectFor(event('source-s1', 'SourceCreated'))).toBe('s1c.evt.source.s1.SourceCreated');
    expect(relaySubjectFor(event('collection-s1-threats', 'JobCompleted'))).toBe('s1c.evt.collection.s1-threats.JobCompleted');
    expect(relaySubjectFor(event('delivery-s1'))).toBe('s1c.evt.delivery.s1.HealthEventRaised');
    expect(relaySubjectFor(event('token-s1'))).toBe('s1c.evt.token.s1.HealthEventRaised');
    expect(relaySubjectFor(event(nameStreamId('default', 'ab12'), 'SourceNameReserved'))).toBe('s1c.evt.sourcename.default-ab12.SourceNameReserved');
  });

  it('refuses a stream of no known kind (the relay must not guess a subject)', () => {
    expect(() => relaySubjectFor(event('other-s1'))).toThrow('no relay subject for stream other-s1');
  });
});
