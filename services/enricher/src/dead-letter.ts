import { DEAD_LETTER_HEADERS, publishBytes, subjects, type DeadLetterReason } from '@s1c/messaging';
import { headers as createHeaders, type JetStreamClient, type JsMsg } from 'nats';
import type { HeaderView } from './held.message';

/** What dead-lettering needs of a message: a JetStream message, or a sink's HeldMessage. */
export type DeadLetterSource = Pick<JsMsg, 'subject' | 'seq' | 'data' | 'term'> & {
  readonly headers: HeaderView | undefined;
  readonly info: { readonly stream: string; readonly deliveryCount: number };
};

// Header values travel in the protocol line: keep them on one line and bounded.
const headerValue = (text: string): string => text.replace(/[\r\n]+/g, ' ').slice(0, 1024);

/**
 * Dead-letters a message the way `@s1c/messaging`'s JetStream worker does: a copy with its
 * headers and the `S1c-Dlq-*` headers to `s1c.dlq.<stream>.<durable>`, then `term()`. The copy's
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
  // A bare term: nats-server 2.9 ignores "+TERM <reason>".
  m.term();
}
