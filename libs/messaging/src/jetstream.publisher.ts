import { headers as createHeaders, type JetStreamClient, type JetStreamPublishOptions, type MsgHdrs, type PubAck } from 'nats';
import { encodeJson } from './json.codec';

/** Options of a JetStream publish; `msgId` is mandatory so that a repeated publish is deduplicated. */
export interface PublishOptions {
  /** Deterministic `Nats-Msg-Id`, e.g. `<streamId>:<version>` or a record id. */
  msgId: string;
  headers?: Record<string, string>;
  /** Server-side preconditions, e.g. `{ lastSubjectSequence }` for optimistic concurrency. */
  expect?: JetStreamPublishOptions['expect'];
  /** How long to wait for the PubAck; default 5000 ms. */
  timeoutMs?: number;
}

/** Turns a plain header record into NATS headers (undefined when empty). */
export function toMsgHdrs(values: Record<string, string> | undefined): MsgHdrs | undefined {
  if (!values) return undefined;
  const keys = Object.keys(values);
  if (keys.length === 0) return undefined;
  const h = createHeaders();
  // Fresh headers and an object's distinct keys: append is set without its lookup for an earlier value.
  for (const k of keys) h.append(k, values[k]!);
  return h;
}

function isMsgHdrs(value: Record<string, string> | MsgHdrs | undefined): value is MsgHdrs {
  return value !== undefined && typeof (value as MsgHdrs).values === 'function' && typeof (value as MsgHdrs).append === 'function';
}

/**
 * Publishes raw bytes to JetStream with a required message id. Resolves with the PubAck;
 * `duplicate` is true when the stream already held a message with this id within its
 * duplicate window (nothing new was stored).
 */
export function publishBytes(
  js: JetStreamClient,
  subject: string,
  data: Uint8Array,
  options: Omit<PublishOptions, 'headers'> & { headers?: Record<string, string> | MsgHdrs },
): Promise<PubAck> {
  // Not `async`: one promise per record less on the hot paths; every error still comes as a rejection.
  try {
    if (typeof options.msgId !== 'string' || options.msgId.length === 0) {
      throw new TypeError(`publish to ${subject}: msgId is required (Nats-Msg-Id makes a repeated publish harmless)`);
    }
    const h = isMsgHdrs(options.headers) ? options.headers : toMsgHdrs(options.headers);
    const opts: Partial<JetStreamPublishOptions> = { msgID: options.msgId, timeout: options.timeoutMs ?? 5000 };
    if (h) opts.headers = h;
    if (options.expect) opts.expect = options.expect;
    return js.publish(subject, data, opts);
  } catch (error) {
    return Promise.reject(error as Error);
  }
}

/** Publishes `value` as JSON to JetStream with a required message id; see {@link publishBytes}. */
export async function publishJson(
  js: JetStreamClient,
  subject: string,
  value: unknown,
  options: PublishOptions,
): Promise<PubAck> {
  return publishBytes(js, subject, encodeJson(value), options);
}
