import { headers as createHeaders, type JetStreamClient, type JetStreamManager, type JetStreamPublishOptions, type MsgHdrs, type PubAck } from 'nats';
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

/** What {@link publishJsonPast} published: the ack of the copy that counts, and how many copies before it landed where the consumer had already passed. */
export interface PublishedPast {
  readonly ack: PubAck;
  readonly passed: number;
}

/**
 * Publishes `value` as {@link publishJson} does, then makes sure it lands past `delivered()`, the
 * last stream sequence a consumer has delivered ({@link deliveredSequence}), publishing it again
 * under `<msgId>.<n>` until it does (at most `maxCopies` times). A consumer never delivers a
 * sequence it has passed, and a cluster whose new stream leader lost the stream's last messages (a
 * lagging replica, nats-server 2.9) gives new messages the sequences of messages the consumer
 * already delivered. Meant for a message published again after it went missing, not for every
 * publish (it asks for the consumer's state). The copies it passed stay in the stream, never
 * delivered by that consumer.
 */
export async function publishJsonPast(
  js: JetStreamClient,
  subject: string,
  value: unknown,
  options: PublishOptions & { delivered: () => Promise<number>; maxCopies?: number },
): Promise<PublishedPast> {
  const { delivered: deliveredNow, maxCopies = 1000, ...publish } = options;
  let ack = await publishJson(js, subject, value, publish);
  const delivered = await deliveredNow();
  let passed = 0;
  while (ack.seq <= delivered && passed < maxCopies) {
    passed += 1;
    ack = await publishJson(js, subject, value, { ...publish, msgId: `${publish.msgId}.${passed}` });
  }
  return { ack, passed };
}

/** The last stream sequence the durable consumer has delivered; 0 when there is no such consumer (one made later starts at the stream's first message). */
export function deliveredSequence(jsm: JetStreamManager, stream: string, durable: string): Promise<number> {
  return jsm.consumers.info(stream, durable).then(
    (info) => info.delivered.stream_seq,
    () => 0,
  );
}
