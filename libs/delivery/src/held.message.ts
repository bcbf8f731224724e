import type { HeaderView } from '@s1c/messaging';
import { nanos, type JsMsg, type NatsConnection } from 'nats';

/**
 * A JetStream message a sink holds until its batch is delivered, detached from the client's read
 * buffer. nats.js hands out a message's data as a view into the chunk it read from the socket, so
 * each message held keeps its whole chunk alive: a slow collector with 20,000 messages held took
 * the enricher past 600 MiB. This keeps a copy of the body and the reply subject, and settles the
 * message with the JetStream ack protocol (what `JsMsg.ack()` and the others publish there).
 */
export interface HeldMessage {
  readonly subject: string;
  readonly seq: number;
  readonly data: Uint8Array;
  readonly headers: HeaderView | undefined;
  readonly info: { readonly stream: string; readonly deliveryCount: number };
  ack(): void;
  /** Redelivery after `delayMs`, or at once. */
  nak(delayMs?: number): void;
  /** More time: resets the ack wait. */
  working(): void;
  term(): void;
}

/**
 * A message's headers as one flat `[key, value, key, value, ...]` array. nats.js's decoded
 * `MsgHdrs` (a Map of arrays) weighed ~1.7 KB a message, half of a slow sink's live heap, and
 * decoding it (a per-character key check, arrays per lookup) was a third of the sink's allocations.
 */
class FlatHeaders implements HeaderView {
  private constructor(private readonly pairs: readonly string[]) {}

  static of(headers: Iterable<[string, string[]]>): FlatHeaders {
    const pairs: string[] = [];
    for (const [key, values] of headers) for (const value of values) pairs.push(key, value);
    return new FlatHeaders(pairs);
  }

  /** The wire block `NATS/1.0\r\nKey: value\r\n...`, split the way nats.js splits it. */
  static parse(block: Uint8Array): FlatHeaders {
    const pairs: string[] = [];
    const lines = DECODER.decode(block).split('\r\n');
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon > -1) pairs.push(line.slice(0, colon), line.slice(colon + 1).trim());
    }
    return new FlatHeaders(pairs);
  }

  get(key: string): string {
    for (let i = 0; i < this.pairs.length; i += 2) if (this.pairs[i] === key) return this.pairs[i + 1]!;
    return '';
  }

  *[Symbol.iterator](): Iterator<[string, string[]]> {
    const grouped = new Map<string, string[]>();
    for (let i = 0; i < this.pairs.length; i += 2) {
      const values = grouped.get(this.pairs[i]!);
      if (values) values.push(this.pairs[i + 1]!);
      else grouped.set(this.pairs[i]!, [this.pairs[i + 1]!]);
    }
    yield* grouped;
  }
}

const DECODER = new TextDecoder();

/** What nats.js 2.x's JsMsgImpl keeps of a message: the raw header block, ahead of the body. */
interface WireMessage {
  readonly msg?: { readonly _rdata?: unknown; readonly _msg?: { readonly hdr?: unknown } };
}

/** The raw header block and body of `m` when the client still has them (nats.js 2.x), one after the other. */
function wireOf(m: JsMsg): { bytes: Uint8Array; headerLength: number } | undefined {
  const wire = (m as JsMsg & WireMessage).msg;
  const length = wire?._msg?.hdr;
  if (typeof length !== 'number' || !(wire?._rdata instanceof Uint8Array)) return undefined;
  return { bytes: wire._rdata, headerLength: Math.max(0, length) };
}

/** The message's headers, from its raw header block when the client still has one (else decoded by nats.js). */
export function flatHeaders(m: JsMsg): HeaderView | undefined {
  const wire = wireOf(m);
  if (wire) return wire.headerLength > 0 ? FlatHeaders.parse(wire.bytes.subarray(0, wire.headerLength)) : undefined;
  return m.headers && FlatHeaders.of(m.headers);
}

/**
 * A held message. A slow sink holds up to `S1C_SINK_MAX_ACK_PENDING` of them (20,000 by default), so
 * each is small: one copy of its header block and body together, the headers parsed again when
 * asked for (at intake and when dead-lettered, not while held), and its methods on the prototype.
 */
class Held implements HeldMessage {
  private settled = false;

  constructor(
    readonly subject: string,
    readonly seq: number,
    private readonly stream: string,
    private readonly deliveryCount: number,
    /** The header block then the body, or the body alone when the headers came decoded. */
    private readonly wire: Uint8Array,
    private readonly headerLength: number,
    private readonly decoded: HeaderView | undefined,
    private readonly reply: string,
    private readonly nc: NatsConnection,
  ) {}

  get data(): Uint8Array {
    return this.wire.subarray(this.headerLength);
  }

  get headers(): HeaderView | undefined {
    if (this.headerLength === 0) return this.decoded;
    return FlatHeaders.parse(this.wire.subarray(0, this.headerLength));
  }

  get info(): { readonly stream: string; readonly deliveryCount: number } {
    return { stream: this.stream, deliveryCount: this.deliveryCount };
  }

  ack(): void {
    this.respond('+ACK', true);
  }

  nak(delayMs?: number): void {
    this.respond(delayMs ? `-NAK ${JSON.stringify({ delay: nanos(delayMs) })}` : '-NAK', true);
  }

  working(): void {
    this.respond('+WPI', false);
  }

  term(): void {
    this.respond('+TERM', true);
  }

  private respond(payload: string, final: boolean): void {
    if (this.settled) return;
    if (final) this.settled = true;
    try {
      this.nc.publish(this.reply, payload);
    } catch {
      // The connection is closed or draining: the answer cannot go out, and the server delivers the
      // message again after its ack wait, as after a crash. Throwing would only stop the caller's clean-up.
    }
  }
}

/** Detaches `m` (see {@link HeldMessage}); acks go out on `nc`. */
export function holdMessage(m: JsMsg, nc: NatsConnection): HeldMessage {
  // nats.js's JsMsgImpl has the reply subject (its acks go there); its JsMsg interface does not say so.
  const reply = (m as JsMsg & { readonly reply?: string }).reply;
  if (typeof reply !== 'string' || reply === '') throw new Error(`message ${m.seq} of ${m.info.stream} has no reply subject to ack on`);
  const wire = wireOf(m);
  // A copy of its own (on Node the data is a Buffer, whose slice() is a view like subarray(); a
  // pooled Buffer.from would tie each held record to a shared 8 KiB slab: measured, no better).
  if (wire && wire.bytes.length === wire.headerLength + m.data.length) {
    return new Held(m.subject, m.seq, m.info.stream, m.info.deliveryCount, new Uint8Array(wire.bytes), wire.headerLength, undefined, reply, nc);
  }
  return new Held(m.subject, m.seq, m.info.stream, m.info.deliveryCount, new Uint8Array(m.data), 0, m.headers && FlatHeaders.of(m.headers), reply, nc);
}
