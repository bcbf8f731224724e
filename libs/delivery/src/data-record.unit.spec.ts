import { ByteSlab } from '@s1c/messaging';
import { describe, expect, it } from 'vitest';
import { buildDataRecord, parseDataRecord, type DataEnvelope } from './data-record';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ENVELOPE = { id: 's1:activities:42', sourceId: 's1', collectorId: 'default', api: 'activities', fetchedAt: '2026-12-05T01:02:03.456789Z' } as const;
const METADATA = '{"_source":"Console","_siemEventID":"activities - 27"}';

describe('buildDataRecord', () => {
  it('writes the envelope keys in order and splices the event in unchanged', () => {
    const event = '{"id":"1","n":1}';
    const { body, eventOffset } = buildDataRecord(ENVELOPE, METADATA, encoder.encode(event));
    expect(decoder.decode(body)).toBe(
      '{"id":"s1:activities:42","sourceId":"s1","collectorId":"default","api":"activities",' +
        `"metadata":${METADATA},"fetchedAt":"2026-12-05T01:02:03.456789Z","event":${event}}`,
    );
    // The event starts at the offset and ends one byte before the body's end.
    expect(decoder.decode(body.subarray(eventOffset, body.length - 1))).toBe(event);
  });

  it('gives each record built from one slab its own bytes, the same as a record built alone', () => {
    const slab = new ByteSlab(4096);
    const events = Array.from({ length: 300 }, (_, i) => encoder.encode(`{"id":"${i}","s":"${'é'.repeat(i % 50)}"}`));
    const built = events.map((event, i) => buildDataRecord({ ...ENVELOPE, id: `s1:activities:${i}` }, METADATA, event, slab));
    expect(new Set(built.map((b) => b.body.buffer)).size).toBeLessThan(built.length / 5);
    built.forEach(({ body, eventOffset }, i) => {
      const alone = buildDataRecord({ ...ENVELOPE, id: `s1:activities:${i}` }, METADATA, events[i]!);
      expect(Buffer.from(body).equals(Buffer.from(alone.body))).toBe(true);
      expect(eventOffset).toBe(alone.eventOffset);
    });
  });

  it('keeps the event byte for byte: integers beyond 2^53, non-ASCII text, escapes', () => {
    const event = encoder.encode('{"id":1398765432109876543210,"s":"é – 東京 😀","q":"a\\"b\\\\c","f":1.000000000000000000001e400}');
    const { body, eventOffset } = buildDataRecord(ENVELOPE, METADATA, event);
    expect(Buffer.from(body.subarray(eventOffset, body.length - 1)).equals(Buffer.from(event))).toBe(true);
    expect(body[body.length - 1]).toBe(0x7d);
  });

  it('counts the offset in bytes, not characters, when the envelope is not ASCII', () => {
    const metadata = '{"_source":"Console — 東京 😀"}';
    const head =
      '{"id":"s1:activities:42","sourceId":"s1","collectorId":"collecteur-é","api":"activities",' +
      `"metadata":${metadata},"fetchedAt":"2026-12-05T01:02:03.456789Z","event":`;
    const { body, eventOffset } = buildDataRecord({ ...ENVELOPE, collectorId: 'collecteur-é' }, metadata, encoder.encode('{"x":1}'));
    expect(Buffer.from(body).equals(Buffer.from(`${head}{"x":1}}`))).toBe(true);
    expect(eventOffset).toBe(Buffer.byteLength(head));
    expect(eventOffset).toBeGreaterThan(head.length);
  });
});

describe('parseDataRecord', () => {
  it('gives back the envelope and the exact event bytes of what buildDataRecord wrote', () => {
    const event = encoder.encode('{"id":"7","big":12345678901234567890}');
    const { body, eventOffset } = buildDataRecord(ENVELOPE, METADATA, event);
    const parsed = parseDataRecord(body, eventOffset);
    const expected: DataEnvelope = { ...ENVELOPE, metadata: JSON.parse(METADATA) as DataEnvelope['metadata'] };
    expect(parsed?.envelope).toEqual(expected);
    expect(Buffer.from(parsed!.event).equals(Buffer.from(event))).toBe(true);
  });

  // A record written by hand, `event` being `{}`: the envelope's JSON with `,"event":{}` spliced in.
  const handMade = (envelope: object): [Uint8Array, number] => {
    const head = `${JSON.stringify(envelope).slice(0, -1)},"event":`;
    return [encoder.encode(`${head}{}}`), Buffer.byteLength(head)];
  };
  const FULL: DataEnvelope = { ...ENVELOPE, metadata: { _source: 'Console' } };

  it('reads a record written by hand the same way (the control of the cases below)', () => {
    const parsed = parseDataRecord(...handMade(FULL));
    expect(parsed?.envelope).toEqual(FULL);
    expect(decoder.decode(parsed?.event)).toBe('{}');
  });

  describe('returns undefined for a body it did not write', () => {
    const { body, eventOffset } = buildDataRecord(ENVELOPE, METADATA, encoder.encode('{"id":"7"}'));
    // Another key than "event" before the offset, the head still valid JSON.
    const renamed = Uint8Array.from(body);
    renamed[eventOffset - 3] = 0x54; // ,"event": -> ,"evenT":
    const { id: _id, ...withoutId } = FULL;
    const { metadata: _metadata, ...withoutMetadata } = FULL;
    const cases: Array<[string, Uint8Array, number]> = [
      ['an offset that is not an integer', body, eventOffset + 0.5],
      ['an offset that is NaN', body, Number.NaN],
      ['an offset too small to follow the key', body, 5],
      ['an offset at or past the end', body, body.length],
      ['an offset that is not right after ,"event":', body, eventOffset + 1],
      ['a key other than "event" right before the offset', renamed, eventOffset],
      ['a body whose last byte is not }', Uint8Array.from([...body.subarray(0, body.length - 1), 0x20]), eventOffset],
      ['a head that is not JSON', encoder.encode(`{"id":x${decoder.decode(body).slice(7)}`), eventOffset],
      ['a head that is not UTF-8', Uint8Array.from([...body.subarray(0, 10), 0xff, ...body.subarray(11)]), eventOffset],
      ['an envelope without id', ...handMade(withoutId)],
      ['an envelope without metadata', ...handMade(withoutMetadata)],
      ['an envelope whose id is not a string', ...((): [Uint8Array, number] => {
        const b = buildDataRecord({ ...ENVELOPE, id: 1 as unknown as string }, METADATA, encoder.encode('{}'));
        return [b.body, b.eventOffset];
      })()],
      ['an envelope whose metadata is null', ...((): [Uint8Array, number] => {
        const b = buildDataRecord(ENVELOPE, 'null', encoder.encode('{}'));
        return [b.body, b.eventOffset];
      })()],
      ['an envelope whose metadata is an array', ...((): [Uint8Array, number] => {
        const b = buildDataRecord(ENVELOPE, '[1]', encoder.encode('{}'));
        return [b.body, b.eventOffset];
      })()],
    ];
    for (const [name, input, offset] of cases) {
      it(name, () => {
        expect(parseDataRecord(input, offset)).toBeUndefined();
      });
    }
  });
});
