import { publishBytes } from '@s1c/messaging';
import type { JetStreamClient } from 'nats';

/** Where a fetcher puts raw records: JetStream `S1C_RAW` in production; tests may wrap it. */
export interface RawPublisher {
  /**
   * Publishes one record and resolves once the stream has stored it (or already had it: the
   * `Nats-Msg-Id` makes a repeat harmless).
   */
  publish(subject: string, body: Uint8Array, msgId: string, headers: Readonly<Record<string, string>>): Promise<void>;
}

const noop = (): void => undefined;

/** A {@link RawPublisher} on JetStream, awaiting each PubAck. */
export function jetStreamRawPublisher(js: JetStreamClient, options: { timeoutMs?: number } = {}): RawPublisher {
  return {
    publish(subject, body, msgId, headers) {
      // The PubAck itself is of no use to the caller: resolved once the stream has the record.
      return publishBytes(js, subject, body, { msgId, headers, timeoutMs: options.timeoutMs ?? 10_000 }).then(noop);
    },
  };
}
