import { describe, expect, it, vi } from 'vitest';
import { MalformedBodyError, ErrorsInBodyError, listBodyOf, parseListBody, parseObjectBody, splitListBody } from './page.parser';

const body = (text: string): Buffer => Buffer.from(text, 'utf8');

describe('parseListBody', () => {
  it('returns each record with its exact JSON text and parsed value', () => {
    const text = '{"data":[{"id":"1","n":1} , {"id":"2","s":"a,]}\\"x"}],"pagination":{"nextCursor":"abc","totalItems":7}}';
    const page = parseListBody(body(text));
    expect(page.records.map((r) => r.json)).toEqual(['{"id":"1","n":1}', '{"id":"2","s":"a,]}\\"x"}']);
    expect(page.records[1]!.value).toEqual({ id: '2', s: 'a,]}"x' });
    expect(page.nextCursor).toBe('abc');
    expect(page.totalItems).toBe(7);
  });

  describe('when a record holds integers beyond 2^53 as JSON numbers', () => {
    it('keeps every digit in json and gives value the digits as a string', () => {
      const text =
        '{"pagination":{"nextCursor":null},"data":[\n  {"id":"1398765432109876543","data":{"accountId":1234567890123456789,"neg":-98765432109876543210,"small":9007199254740991,"f":1.5e300,"arr":[12345678901234567890]}}\n]}';
      const page = parseListBody(body(text));
      const [record] = page.records;
      expect(record!.json).toBe(
        '{"id":"1398765432109876543","data":{"accountId":1234567890123456789,"neg":-98765432109876543210,"small":9007199254740991,"f":1.5e300,"arr":[12345678901234567890]}}',
      );
      expect(record!.value).toEqual({
        id: '1398765432109876543',
        data: { accountId: '1234567890123456789', neg: '-98765432109876543210', small: 9007199254740991, f: 1.5e300, arr: ['12345678901234567890'] },
      });
      expect(JSON.parse(record!.json)).toBeTypeOf('object');
    });

    it('leaves digit runs inside strings alone', () => {
      const page = parseListBody(body('{"data":[{"s":"12345678901234567890","t":"\\"99999999999999999999"}]}'));
      expect(page.records[0]!.value).toEqual({ s: '12345678901234567890', t: '"99999999999999999999' });
      expect(page.nextCursor).toBeNull();
    });
  });

  it("gives each record's bytes as the body holds them, ASCII or not, wherever the body sits in its buffer", () => {
    const text =
      '{"data":[ {"id":"1","s":"ascii"},\n{"id":"2","s":"é – 東京 😀","n":12345678901234567890} ,{"id":"3","s":"\\u00e9\\"x"}, {"id":"4"}],"pagination":{"nextCursor":null}}';
    const encoder = new TextEncoder();
    const inner = Buffer.from(text, 'utf8');
    // A view into a larger buffer, as Buffer.concat may hand out from its pool.
    const pooled = Buffer.concat([Buffer.from('xx'), inner, Buffer.from('yy')]).subarray(2, 2 + inner.length);
    for (const input of [inner, pooled, body(text.replace(/[^ -~\n]/g, 'a'))]) {
      const page = parseListBody(input);
      expect(page.records).toHaveLength(4);
      for (const r of page.records) expect(Buffer.from(r.bytes!).equals(Buffer.from(encoder.encode(r.json)))).toBe(true);
    }
    // A byte order mark is not part of any record.
    const withBom = parseListBody(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), inner]));
    expect(withBom.records.map((r) => Buffer.from(r.bytes).toString('utf8'))).toEqual(parseListBody(inner).records.map((r) => r.json));
    expect(withBom.records[1]!.json).toBe('{"id":"2","s":"é – 東京 😀","n":12345678901234567890}');
  });

  describe('a body with non-ASCII text (read one character per byte, records parsed again only when asked)', () => {
    const text =
      '{"data":[{"id":"1","user":"José Álvarez","n":12345678901234567890,"o":{"host":"財務-PC","ascii":"srv-web","esc":"\\u00e9 \\u6771 \u00e9\u6771","k":7}},' +
      '{"id":"2","s":"plain","n":98765432109876543210},{"clé":"ключ","id":"3"}],"pagination":{"nextCursor":"c-1"}}';
    const exact = (json: string): unknown => JSON.parse(json.replace(/(\d{20})/g, '"$1"'));

    it('gives every value, text and byte exactly as a decoding parse does', () => {
      const page = parseListBody(body(text));
      expect(page.records.map((r) => r.value)).toEqual(page.records.map((r) => exact(r.json)));
      expect(page.records[0]!.value).toMatchObject({ user: 'José Álvarez', n: '12345678901234567890', o: { host: '財務-PC', esc: 'é 東 é東' } });
      expect(page.records[2]!.value).toEqual({ clé: 'ключ', id: '3' });
      expect(page.records.map((r) => Buffer.from(r.bytes).toString('utf8'))).toEqual(page.records.map((r) => r.json));
      expect(page.nextCursor).toBe('c-1');
    });

    it('reads any path as value has it: ASCII strings, numbers, objects, escapes and non-ASCII text', () => {
      const [first, second, third] = parseListBody(body(text)).records;
      const paths = [['id'], ['user'], ['n'], ['o'], ['o', 'host'], ['o', 'ascii'], ['o', 'esc'], ['o', 'k'], ['o', 'k', 'x'], ['missing'], [], ['clé'], ['user', 'length']];
      for (const record of [first!, second!, third!]) {
        for (const path of paths) {
          let expected: unknown = record.value;
          for (const key of path) expected = expected !== null && typeof expected === 'object' && !Array.isArray(expected) ? (expected as Record<string, unknown>)[key] : undefined;
          expect(record.read(path)).toEqual(expected);
        }
      }
      expect(first!.read(['o', 'host'])).toBe('財務-PC');
      expect(first!.read(['o', 'esc'])).toBe('é 東 é東');
    });

    it('reads ASCII fields of a record holding non-ASCII text without parsing the record again', () => {
      const [first] = parseListBody(body(text)).records;
      const parse = vi.spyOn(JSON, 'parse');
      try {
        expect([first!.read(['id']), first!.read(['n']), first!.read(['o', 'k']), first!.read(['o', 'ascii'])]).toEqual(['1', '12345678901234567890', 7, 'srv-web']);
        expect(parse).not.toHaveBeenCalled();
        expect(first!.read(['user'])).toBe('José Álvarez');
        expect(parse).toHaveBeenCalledTimes(1);
      } finally {
        parse.mockRestore();
      }
    });

    it('decodes the cursor and errors exactly', () => {
      expect(parseListBody(body('{"data":[{"a":"é"}],"pagination":{"nextCursor":"é-1"}}')).nextCursor).toBe('é-1');
      expect(parseListBody(body('{"data":[],"pagination":{"nextCursor":"\\u00e9"}}')).nextCursor).toBe('é');
      try {
        parseListBody(body('{"data":[{"a":"é"}],"errors":[{"code":1,"title":"Accès refusé"}]}'));
        expect.unreachable();
      } catch (error) {
        expect((error as ErrorsInBodyError).entries).toEqual([{ code: 1, title: 'Accès refusé' }]);
      }
    });
  });

  it('ends a string at the first quote after an even run of backslashes', () => {
    // "x\\" is x and one backslash, closed; "\\\"]}" holds a backslash, a quote and "]}".
    const text = '{"data":[{"s":"x\\\\","n":12345678901234567890},{"t":"\\\\\\"]}","u":"\\\\\\\\"}]}';
    const page = parseListBody(body(text));
    expect(page.records.map((r) => r.json)).toEqual(['{"s":"x\\\\","n":12345678901234567890}', '{"t":"\\\\\\"]}","u":"\\\\\\\\"}']);
    expect(page.records.map((r) => r.value)).toEqual([{ s: 'x\\', n: '12345678901234567890' }, { t: '\\"]}', u: '\\\\' }]);
  });

  it('gives back every record of generated pages: strings full of escapes, quotes and brackets, big integers, whitespace', () => {
    let seed = 7;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const pieces = ['a', '\\', '"', ',', ']', '}', '[', '{', ':', 'é', '東', '😀', '\n', '\u0000', ' ', '1234567890123456789'];
    const text = (): string => Array.from({ length: Math.floor(random() * 8) }, () => pick(pieces)).join('');
    const big = (): string => `${pick(['', '-'])}${pick(['1', '9'])}${'0123456789'.repeat(2).slice(0, 15 + Math.floor(random() * 5))}`;
    const space = (): string => pick(['', ' ', '\n', ' \t ']);
    for (let page = 0; page < 200; page++) {
      const records = Array.from({ length: 1 + Math.floor(random() * 5) }, (_, i) => {
        const s = text();
        const n = big();
        const json = `{${space()}"id"${space()}:${space()}"${i}",${space()}"s":${JSON.stringify(s)},"n":${n},"o":{${JSON.stringify(text())}:[${JSON.stringify(text())},${n}]}${space()}}`;
        return { json, s, n };
      });
      const parsed = parseListBody(body(`{${space()}"data"${space()}:${space()}[${space()}${records.map((r) => r.json).join(`${space()},${space()}`)}${space()}]${space()}}`));
      expect(parsed.records.map((r) => r.json)).toEqual(records.map((r) => r.json));
      for (const [i, r] of parsed.records.entries()) {
        expect(r.value.s).toBe(records[i]!.s);
        expect(r.read(['s'])).toBe(records[i]!.s);
        const exact = Number.isSafeInteger(Number(records[i]!.n)) ? Number(records[i]!.n) : records[i]!.n;
        expect(r.value.n).toBe(exact);
        expect(r.read(['n'])).toBe(exact);
        expect(r.read(['o'])).toEqual(r.value.o);
        expect(Buffer.from(r.bytes!).toString('utf8')).toBe(records[i]!.json);
      }
    }
  });

  it('uses the last data key, as JSON.parse does', () => {
    const page = parseListBody(body('{"data":[{"a":1}],"x":{"data":[1,2]},"data":[{"b":2},{"c":3}]}'));
    expect(page.records.map((r) => r.json)).toEqual(['{"b":2}', '{"c":3}']);
  });

  it('treats an empty data array as an empty page', () => {
    expect(parseListBody(body('{"data":[],"pagination":{"nextCursor":null,"totalItems":null}}'))).toEqual({ records: [], nextCursor: null });
  });

  it.each([
    ['truncated JSON', '{"data":[{"id":"1"},{"id"'],
    ['HTML', '<html><body>Bad gateway</body></html>'],
    ['an empty body', ''],
    ['no envelope', '[{"id":"1"}]'],
    ['data not an array', '{"data":{"id":"1"}}'],
    ['a record that is not an object', '{"data":[1]}'],
    ['a cursor of the wrong type', '{"data":[],"pagination":{"nextCursor":5}}'],
    ['leading zeros on a big number', '{"data":[{"a":0012345678901234567}]}'],
  ])('refuses %s as malformed', (_name, text) => {
    expect(() => parseListBody(body(text))).toThrow(MalformedBodyError);
  });

  it('refuses invalid UTF-8 as malformed', () => {
    const bytes = Buffer.concat([body('{"data":[{"name":"'), Buffer.from([0xc3, 0x28]), body('"}]}')]);
    expect(() => parseListBody(bytes)).toThrow(/UTF-8/);
  });

  it('reports a 200 that carries errors', () => {
    expect(() => parseListBody(body('{"data":[],"errors":[{"code":5000010,"title":"Internal"}]}'))).toThrow(ErrorsInBodyError);
  });

  it('accepts non-ASCII text', () => {
    const page = parseListBody(body('{"data":[{"name":"Müller & Söhne 東京 lab🧪"}]}'));
    expect(page.records[0]!.value['name']).toBe('Müller & Söhne 東京 lab🧪');
  });
});

describe('listBodyOf', () => {
  it('gives records back through parseListBody with the same bytes, big integers and non-ASCII text included', () => {
    const texts = ['{"id":"1","n":12345678901234567890}', '{"s":"é – 東京 😀","a":[1,{"b":null}]}', '{}', '{"x":"a,]}\\"y"}'];
    const encoded = texts.map((t) => Buffer.from(t, 'utf8'));
    const body = listBodyOf(encoded);
    expect(body.toString('utf8')).toBe(`{"data":[${texts.join(',')}]}`);
    const page = parseListBody(body);
    expect(page.records.map((r) => Buffer.from(r.bytes!))).toEqual(encoded);
    expect(page.records[0]!.value).toEqual({ id: '1', n: '12345678901234567890' });
    expect(page.nextCursor).toBeNull();
  });

  it('writes an empty list for no records', () => {
    expect(listBodyOf([]).toString()).toBe('{"data":[]}');
    expect(parseListBody(listBodyOf([])).records).toEqual([]);
  });
});

describe('splitListBody', () => {
  const texts = ['{"id":"1","n":12345678901234567890}', '{"s":"é – 東京 😀","a":[1,{"b":null}]}', '{}', '{"x":"a,]}\\"y"}'];
  const encoded = texts.map((t) => Buffer.from(t, 'utf8'));
  const lengths = encoded.map((e) => e.length);

  it('cuts what listBodyOf wrote back into the same bytes, as views into the body', () => {
    const body = listBodyOf(encoded);
    const records = splitListBody(body, lengths);
    expect(records.map((r) => Buffer.from(r))).toEqual(encoded);
    expect(records[1]!.buffer).toBe(body.buffer);
    expect(splitListBody(listBodyOf([]), [])).toEqual([]);
  });

  it.each([
    ['a length one short', (b: Buffer) => b, [lengths[0]! - 1, ...lengths.slice(1)], 'not the list body its record lengths describe'],
    ['lengths for fewer records', (b: Buffer) => b, lengths.slice(1), 'not the list body its record lengths describe'],
    ['another envelope', (b: Buffer) => Buffer.from(b.toString('latin1').replace('{"data":[', '{"list":['), 'latin1'), lengths, 'not the list body its record lengths describe'],
    ['no closing bracket', (b: Buffer) => Buffer.concat([b.subarray(0, b.length - 2), Buffer.from('}}')]), lengths, 'not the list body its record lengths describe'],
    ['lengths that shift the cut', (b: Buffer) => b, [lengths[0]!, lengths[1]! - 2, lengths[2]! + 2, lengths[3]!], 'no comma before record 2'],
    ['a record that is not an object', (b: Buffer) => Buffer.from(b.toString('latin1').replace('{}', '[]'), 'latin1'), lengths, 'record 2 of the body is not a JSON object'],
    ['a negative length', (b: Buffer) => b, [-1], 'not an integer of at least 2'],
    ['a fractional length', (b: Buffer) => b, [2.5], 'not an integer of at least 2'],
  ])('refuses %s', (_name, change, given, message) => {
    expect(() => splitListBody(change(listBodyOf(encoded)), given)).toThrow(MalformedBodyError);
    expect(() => splitListBody(change(listBodyOf(encoded)), given)).toThrow(message);
  });
});

describe('parseObjectBody', () => {
  it('returns data', () => {
    expect(parseObjectBody(body('{"data":{"build":"x"}}'))).toEqual({ build: 'x' });
  });
  it('refuses a body without data', () => {
    expect(() => parseObjectBody(body('{"ok":true}'))).toThrow(MalformedBodyError);
  });
});
