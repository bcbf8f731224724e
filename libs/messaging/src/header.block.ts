import type { MsgHdrs } from 'nats';
import type { ByteSlab } from './byte.slab';

const encoder = new TextEncoder();
/** A header name: printable ASCII without the colon. */
const NAME = /^[!-9;-~]+$/;
const LINE_BREAK = /[\r\n]/;

/** Whether a text can be a header value: no CR or LF (nats.js refuses those too). */
export const isHeaderValue = (value: string): boolean => !LINE_BREAK.test(value);

/**
 * A message's headers written straight into NATS's header block (`NATS/1.0`, then one
 * `Name: value` line each, then an empty line). nats.js's `headers()` canonicalises and looks up
 * every name and tests every value on each append, keeps them in a map of arrays, and prints them
 * all again when the message goes out: for the enricher, one publish per record, that was a tenth
 * of its CPU (README "Performance"). Names and values are checked as nats.js checks them: a value
 * with CR or LF is refused.
 */
export class HeaderBlock {
  private text = 'NATS/1.0\r\n';

  /** Adds a `name: value` line; throws a RangeError for a name that is not one or a value with CR or LF. */
  append(name: string, value: string): this {
    if (!NAME.test(name)) throw new RangeError(`not a header name: ${JSON.stringify(name)}`);
    if (!isHeaderValue(value)) throw new RangeError(`header ${name}: a value may not hold CR or LF`);
    this.text += `${name}: ${value}\r\n`;
    return this;
  }

  /** The block's bytes, as they go on the wire (cut from `slab` when given). */
  encode(slab?: ByteSlab): Uint8Array {
    const text = `${this.text}\r\n`;
    if (!slab) return encoder.encode(text);
    const bytes = slab.take(Buffer.byteLength(text, 'utf8'));
    encoder.encodeInto(text, bytes);
    return bytes;
  }

  /**
   * The block where nats.js's `publish` takes headers: when publishing, nats.js (2.29) calls only
   * their `encode()` and sends what it returns. `header.block.int.spec.ts` publishes through it to a
   * real server and reads the headers back, so a nats.js that stops doing so fails the tests.
   */
  asMsgHdrs(slab?: ByteSlab): MsgHdrs {
    return { encode: () => this.encode(slab) } as unknown as MsgHdrs;
  }
}
