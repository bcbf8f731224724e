import { nanos, type JsMsg, type MsgHdrs, type NatsConnection } from 'nats';

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
  readonly headers: MsgHdrs | undefined;
  readonly info: { readonly stream: string; readonly deliveryCount: number };
  ack(): void;
  /** Redelivery after `delayMs`, or at once. */
  nak(delayMs?: number): void;
  /** More time: resets the ack wait. */
  working(): void;
  term(): void;
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
    nc.publish(reply, payload);
  };
  return {
    subject: m.subject,
    seq: m.seq,
    // A copy: on Node the data is a Buffer, whose slice() is a view like subarray().
    data: new Uint8Array(m.data),
    headers: m.headers,
    info: { stream: m.info.stream, deliveryCount: m.info.deliveryCount },
    ack: () => respond('+ACK', true),
    nak: (delayMs) => respond(delayMs ? `-NAK ${JSON.stringify({ delay: nanos(delayMs) })}` : '-NAK', true),
    working: () => respond('+WPI', false),
    term: () => respond('+TERM', true),
  };
}
