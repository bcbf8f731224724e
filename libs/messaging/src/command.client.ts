import { ErrorCode, NatsError, type NatsConnection, type RequestOptions } from 'nats';
import { decodeText, encodeJson } from './json.codec';
import { CommandTimeoutError, InvalidReplyError, NoRespondersError } from './messaging.errors';
import { toMsgHdrs } from './jetstream.publisher';

/** Options of {@link requestJson}. */
export interface RequestJsonOptions {
  timeoutMs: number;
  headers?: Record<string, string>;
}

/**
 * Sends `payload` as JSON on `subject` and returns the parsed JSON reply. Fails with
 * {@link NoRespondersError} when nothing serves the subject, {@link CommandTimeoutError} when
 * the server does not answer in time, {@link InvalidReplyError} when the reply is not JSON.
 * The reply is returned as is: a `{"ok":false,...}` reply is a value, not an exception.
 * An `undefined` payload sends an empty body.
 */
export async function requestJson<T = unknown>(
  nc: NatsConnection,
  subject: string,
  payload: unknown,
  options: RequestJsonOptions,
): Promise<T> {
  const opts: RequestOptions = { timeout: options.timeoutMs };
  const h = toMsgHdrs(options.headers);
  if (h) opts.headers = h;
  let reply;
  try {
    reply = await nc.request(subject, payload === undefined ? new Uint8Array(0) : encodeJson(payload), opts);
  } catch (error) {
    if (error instanceof NatsError && error.code === ErrorCode.NoResponders) throw new NoRespondersError(subject);
    if (error instanceof NatsError && error.code === ErrorCode.Timeout) {
      throw new CommandTimeoutError(subject, options.timeoutMs);
    }
    throw error;
  }
  try {
    return JSON.parse(decodeText(reply.data)) as T;
  } catch (error) {
    throw new InvalidReplyError(subject, error);
  }
}
