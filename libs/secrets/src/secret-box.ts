import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { EncryptedSecret } from '@s1c/domain';

/** One AES-256 key and the id stored beside everything it encrypts. */
export interface SecretKey {
  readonly kid: string;
  readonly key: Buffer;
}

/** The key configuration is unusable; the message says what to fix, never the key itself. */
export class SecretKeyConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretKeyConfigError';
  }
}

/** A stored secret could not be decrypted: unknown key id, or the ciphertext was altered. */
export class SecretDecryptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretDecryptionError';
  }
}

const KID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

const HEX_KEY = /^[0-9a-fA-F]{64}$/;
const BASE64_KEY = /^[A-Za-z0-9+/_-]{43}=?$/;

function decodeKey(text: string, position: number): Buffer {
  const trimmed = text.trim();
  if (HEX_KEY.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (BASE64_KEY.test(trimmed)) return Buffer.from(trimmed, 'base64');
  throw new SecretKeyConfigError(
    `key ${position} must be 32 random bytes as base64 (44 characters) or hex (64 characters); generate one with \`openssl rand -base64 32\``,
  );
}

/**
 * Parses the key list of `S1C_SECRET_KEY`: comma-separated `kid:key` or bare `key` entries,
 * each key 32 bytes in base64 or hex. The first encrypts; all decrypt. A bare key's id is
 * derived from its hash, so the same key always gets the same id.
 */
export function parseSecretKeys(value: string | undefined): SecretKey[] {
  if (!value || value.trim() === '') throw new SecretKeyConfigError('no secret key is configured');
  const keys = value.split(',').map((entry, index) => {
    const separator = entry.indexOf(':');
    const kid = separator >= 0 ? entry.slice(0, separator).trim() : undefined;
    const key = decodeKey(separator >= 0 ? entry.slice(separator + 1) : entry, index + 1);
    if (kid !== undefined && !KID_PATTERN.test(kid)) {
      throw new SecretKeyConfigError(`key ${index + 1}: the key id must be 1-32 letters, digits, '-' or '_'`);
    }
    return { kid: kid ?? `k${createHash('sha256').update(key).digest('hex').slice(0, 12)}`, key };
  });
  const ids = new Set(keys.map((k) => k.kid));
  if (ids.size !== keys.length) throw new SecretKeyConfigError('two keys have the same key id');
  return keys;
}

/**
 * Encrypts and decrypts source secrets with AES-256-GCM. `context` (the source id) is bound as
 * additional authenticated data, so a ciphertext copied onto another source does not decrypt.
 */
export class SecretBox {
  private readonly byId: ReadonlyMap<string, Buffer>;
  private readonly current: SecretKey;

  constructor(keys: readonly SecretKey[]) {
    const [first] = keys;
    if (!first) throw new SecretKeyConfigError('no secret key is configured');
    this.current = first;
    this.byId = new Map(keys.map((k) => [k.kid, k.key]));
  }

  /** Builds a box from the value of `S1C_SECRET_KEY`. */
  static fromKeyList(value: string | undefined): SecretBox {
    return new SecretBox(parseSecretKeys(value));
  }

  /** The id of the key new secrets are encrypted with. */
  get currentKeyId(): string {
    return this.current.kid;
  }

  encrypt(plaintext: string, context: string): EncryptedSecret {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { alg: 'A256GCM', kid: this.current.kid, iv: iv.toString('base64'), ct: ct.toString('base64'), tag: cipher.getAuthTag().toString('base64') };
  }

  decrypt(secret: EncryptedSecret, context: string): string {
    const key = this.byId.get(secret.kid);
    if (!key) throw new SecretDecryptionError(`no configured key has id ${secret.kid}; add it to S1C_SECRET_KEY`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(secret.iv, 'base64'));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(Buffer.from(secret.tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(secret.ct, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretDecryptionError(`the secret encrypted with key ${secret.kid} failed authentication`);
    }
  }
}
