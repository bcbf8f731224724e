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

/** The message's headers, from its raw header block when the client still has one (else decoded by nats.js). */
export function flatHeaders(m: JsMsg): HeaderView | undefined {
  const wire = (m as JsMsg & WireMessage).msg;
  const length = wire?._msg?.hdr;
  if (typeof length === 'number' && wire?._rdata instanceof Uint8Array) return length > 0 ? FlatHeaders.parse(wire._rdata.subarray(0, length)) : undefined;
  return m.headers && FlatHeaders.of(m.headers);
}

/** Detaches `m` (see {@link HeldMessage}); acks go out on `nc`. */
export function holdMessage(m: JsMsg, nc: NatsConnection): HeldMessage {
  // nats.js's JsMsgImpl has the reply subject (its acks go there); its JsMsg interface does not say so.
  const reply = (m as JsMsg & { readonly reply?: string }).reply;
  if (typeof reply !== 'string' || reply === '') throw new Error(`message ${m.seq} of ${m.info.stream} has no reply subject to ack on`);
  let settled = false;
  const respond = (payload: string, final: boolean) => {
    if (settled) return;
    if (final) settled = true;
    try {
      nc.publish(reply, payload);
    } catch {
      // The connection is closed or draining: the answer cannot go out, and the server delivers the
      // message again after its ack wait, as after a crash. Throwing would only stop the caller's clean-up.
    }
  };
  return {
    subject: m.subject,
    seq: m.seq,
    // A copy of its own: on Node the data is a Buffer, whose slice() is a view like subarray(); a
    // pooled Buffer.from would tie each held record to a shared 8 KiB slab (measured: no better).
    data: new Uint8Array(m.data),
    headers: flatHeaders(m),
    info: { stream: m.info.stream, deliveryCount: m.info.deliveryCount },
    ack: () => respond('+ACK', true),
    nak: (delayMs) => respond(delayMs ? `-NAK ${JSON.stringify({ delay: nanos(delayMs) })}` : '-NAK', true),
    working: () => respond('+WPI', false),
    term: () => respond('+TERM', true),
  };
}
