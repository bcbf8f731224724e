import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseSecretKeys, SecretBox, SecretDecryptionError, SecretKeyConfigError } from './secret-box';

const keyA = randomBytes(32).toString('base64');
const keyB = randomBytes(32).toString('hex');

describe('SecretBox', () => {
  it('round-trips a token and never stores it in clear', () => {
    const box = SecretBox.fromKeyList(keyA);
    const sealed = box.encrypt('tok-123-secret', 'source-1');
    expect(JSON.stringify(sealed)).not.toContain('tok-123-secret');
    expect(sealed).toMatchObject({ alg: 'A256GCM', kid: box.currentKeyId });
    expect(box.decrypt(sealed, 'source-1')).toBe('tok-123-secret');
  });

  it('uses a fresh IV each time, so equal tokens do not look equal', () => {
    const box = SecretBox.fromKeyList(keyA);
    expect(box.encrypt('same', 's').ct).not.toBe(box.encrypt('same', 's').ct);
  });

  it('refuses a ciphertext moved to another source', () => {
    const box = SecretBox.fromKeyList(keyA);
    expect(() => box.decrypt(box.encrypt('t', 'source-1'), 'source-2')).toThrow(SecretDecryptionError);
  });

  it('refuses a tampered ciphertext', () => {
    const box = SecretBox.fromKeyList(keyA);
    const sealed = box.encrypt('token', 's');
    const ct = Buffer.from(sealed.ct, 'base64');
    ct[0] = ct[0]! ^ 1;
    expect(() => box.decrypt({ ...sealed, ct: ct.toString('base64') }, 's')).toThrow(SecretDecryptionError);
  });

  it('encrypts with the first key and decrypts with any configured key (rotation)', () => {
    const old = SecretBox.fromKeyList(`old:${keyA}`);
    const sealedWithOld = old.encrypt('token', 's');
    const rotated = SecretBox.fromKeyList(`new:${keyB},old:${keyA}`);
    expect(rotated.currentKeyId).toBe('new');
    expect(rotated.decrypt(sealedWithOld, 's')).toBe('token');
    expect(rotated.encrypt('token', 's').kid).toBe('new');
    expect(() => SecretBox.fromKeyList(`new:${keyB}`).decrypt(sealedWithOld, 's')).toThrow(/no configured key has id old/);
  });

  it('derives a stable key id from a bare key', () => {
    expect(parseSecretKeys(keyA)[0]!.kid).toBe(parseSecretKeys(keyA)[0]!.kid);
    expect(parseSecretKeys(keyA)[0]!.kid).not.toBe(parseSecretKeys(keyB)[0]!.kid);
  });

  it.each([
    ['missing', undefined],
    ['empty', ' '],
    ['too short', randomBytes(16).toString('base64')],
    ['not base64', 'not a key at all, really not'],
    ['bad key id', `bad id:${keyA}`],
    ['duplicate ids', `a:${keyA},a:${keyB}`],
  ])('rejects a %s key configuration without echoing the key', (_label, value) => {
    let error: unknown;
    try {
      parseSecretKeys(value);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SecretKeyConfigError);
    if (value && value.trim()) expect(String((error as Error).message)).not.toContain(value.split(':').pop());
  });
});

describe('SecretBox across a key rotation', () => {
  const keyC = randomBytes(32).toString('base64');
  const lists = {
    A: `a:${keyA}`,
    'B,A': `b:${keyB},a:${keyA}`,
    B: `b:${keyB}`,
    'C,B,A': `c:${keyC},b:${keyB},a:${keyA}`,
    'A,B': `a:${keyA},b:${keyB}`,
  } as const;
  type List = keyof typeof lists;
  const box = (list: List) => SecretBox.fromKeyList(lists[list]);

  it.each<[List, string]>([
    ['A', 'a'],
    ['B,A', 'b'],
    ['B', 'b'],
    ['C,B,A', 'c'],
    ['A,B', 'a'],
  ])('with keys %s, the newest (first) key, %s, encrypts', (list, kid) => {
    expect(box(list).currentKeyId).toBe(kid);
    expect(box(list).encrypt('token', 's').kid).toBe(kid);
  });

  // Which key lists can read a secret sealed under each list's current key.
  const readable: Array<[sealedWith: List, readWith: List, readable: boolean]> = [
    ['A', 'A', true],
    ['A', 'B,A', true],
    ['A', 'C,B,A', true],
    ['A', 'A,B', true],
    ['A', 'B', false],
    ['B,A', 'B', true],
    ['B,A', 'A', false],
    ['B,A', 'A,B', true],
    ['C,B,A', 'B,A', false],
    ['C,B,A', 'C,B,A', true],
  ];
  it.each(readable)('a secret sealed with keys %s is readable with keys %s: %s', (sealedWith, readWith, ok) => {
    const sealed = box(sealedWith).encrypt('tok-rotation-0123456789', 'source-1');
    if (ok) expect(box(readWith).decrypt(sealed, 'source-1')).toBe('tok-rotation-0123456789');
    else expect(() => box(readWith).decrypt(sealed, 'source-1')).toThrow(SecretDecryptionError);
  });

  it('re-encrypting (decrypt with any key, encrypt with the newest) moves a secret to the newest key, readable once the old key is gone', () => {
    const old = box('A').encrypt('tok-rotation-0123456789', 'source-1');
    const rotating = box('B,A');
    const moved = rotating.encrypt(rotating.decrypt(old, 'source-1'), 'source-1');
    expect(moved.kid).toBe('b');
    expect(box('B').decrypt(moved, 'source-1')).toBe('tok-rotation-0123456789');
  });

  it('refuses a secret whose key id is configured with other key material, naming only the key id', () => {
    const sealed = box('A').encrypt('tok-rotation-0123456789', 's');
    const impostor = SecretBox.fromKeyList(`a:${keyB}`);
    expect(() => impostor.decrypt(sealed, 's')).toThrow('the secret encrypted with key a failed authentication');
  });

  it('never puts the token, or any key, into an error message', () => {
    const sealed = box('C,B,A').encrypt('tok-rotation-0123456789', 's');
    for (const attempt of [() => box('A').decrypt(sealed, 's'), () => box('C,B,A').decrypt(sealed, 'other-source')]) {
      let message = '';
      try {
        attempt();
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).not.toBe('');
      for (const secret of ['tok-rotation-0123456789', keyA, keyB, keyC]) expect(message).not.toContain(secret);
    }
  });
});
