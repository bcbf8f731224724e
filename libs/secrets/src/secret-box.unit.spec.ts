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
