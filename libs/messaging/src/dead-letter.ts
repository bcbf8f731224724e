import { Counter } from 'prom-client';
import { headers as createHeaders, type JetStreamClient, type JsMsg } from 'nats';
import { publishBytes } from './jetstream.publisher';
import { subjects } from './subjects';

/** Headers set on a dead letter, besides the original message's own headers. */
export const DEAD_LETTER_HEADERS = {
  subject: 'S1c-Dlq-Original-Subject',
  stream: 'S1c-Dlq-Original-Stream',
  streamSequence: 'S1c-Dlq-Original-Sequence',
  consumer: 'S1c-Dlq-Consumer',
  deliveries: 'S1c-Dlq-Deliveries',
  reason: 'S1c-Dlq-Reason',
  error: 'S1c-Dlq-Error',
  originalMsgId: 'S1c-Dlq-Original-Msg-Id',
} as const;

/** Why a message was dead-lettered. */
export type DeadLetterReason = 'PoisonMessage' | 'MaxDeliveriesExceeded';

/** The part of nats.js's `MsgHdrs` dead-lettering reads (a sink's held message has its own). */
export interface HeaderView extends Iterable<[string, string[]]> {
  get(key: string): string;
}

/** What dead-lettering needs of a message: a JetStream message, or one a sink holds. */
export type DeadLetterSource = Pick<JsMsg, 'subject' | 'seq' | 'data' | 'term'> & {
  readonly headers: HeaderView | undefined;
  readonly info: { readonly stream: string; readonly deliveryCount: number };
};

// Header values travel in the protocol line: keep them on one line and bounded.
const headerValue = (text: string): string => text.replace(/[\r\n]+/g, ' ').slice(0, 1024);

const deadLettersTotal = new Counter({
  name: 's1c_dead_letters_total',
  help: 'Messages this process moved to S1C_DLQ, by the stream and durable they came from and the reason.',
  labelNames: ['stream', 'durable', 'reason'] as const,
});

/**
 * Dead-letters a message (the one policy of every consumer here): a copy with its headers and the
 * `S1c-Dlq-*` headers to `s1c.dlq.<stream>.<durable>`, then `term()`. The copy's
 * message id (`<stream>:<durable>:<seq>`) makes a repeat harmless. Throws if the publish fails
 * (the caller leaves the message for redelivery).
 */
export async function deadLetter(
  js: JetStreamClient,
  m: DeadLetterSource,
  durable: string,
  reason: DeadLetterReason,
  errorMessage: string,
): Promise<void> {
  const stream = m.info.stream;
  const h = createHeaders();
  for (const [key, values] of m.headers ?? []) {
    // The original id would make the dead-letter stream drop this as a duplicate.
    if (key === 'Nats-Msg-Id' || key.startsWith('Nats-Expected-')) continue;
    for (const value of values) h.append(key, value);
  }
  const originalMsgId = m.headers?.get('Nats-Msg-Id');
  if (originalMsgId) h.set(DEAD_LETTER_HEADERS.originalMsgId, originalMsgId);
  h.set(DEAD_LETTER_HEADERS.subject, m.subject);
  h.set(DEAD_LETTER_HEADERS.stream, stream);
  h.set(DEAD_LETTER_HEADERS.streamSequence, String(m.seq));
  h.set(DEAD_LETTER_HEADERS.consumer, durable);
  h.set(DEAD_LETTER_HEADERS.deliveries, String(m.info.deliveryCount));
  h.set(DEAD_LETTER_HEADERS.reason, reason);
  h.set(DEAD_LETTER_HEADERS.error, headerValue(errorMessage));
  await publishBytes(js, subjects.deadLetter(stream, durable), m.data, { msgId: `${stream}:${durable}:${m.seq}`, headers: h });
  deadLettersTotal.inc({ stream, durable, reason });
  // A bare term: nats-server 2.9 ignores "+TERM <reason>".
  m.term();
}
