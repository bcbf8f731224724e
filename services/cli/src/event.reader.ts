import { STREAMS } from '@s1c/messaging';
import { ErrorCode, NatsError, type JetStreamManager, type MsgRequest, type NatsConnection, type StoredMsg } from 'nats';

/** Where the JetStream API of the collector's account answers a connection. */
const API_PREFIXES = [
  // No auth, or a user of the collector's own account.
  '$JS.API',
  // An OPERATORS user: infra/nats/nats.conf imports the two calls used here under this prefix.
  'S1C.JS.API',
] as const;

const STREAM = STREAMS.events.name;

/**
 * Reads the relayed events on `S1C_EVENTS` one message at a time, with the only two JetStream
 * calls the OPERATORS account is given: stream info and "get the next message on a subject from
 * sequence n". No consumer is created, so the CLI needs no right to create one in the
 * collector's account (a consumer can name a delivery subject there).
 */
export class EventReader {
  private constructor(
    private readonly jsm: JetStreamManager,
    /** The last sequence in the stream when the reader was opened. */
    readonly lastSequence: number,
  ) {}

  /** Finds the API prefix that answers this connection; fails with the first prefix's error when none does. */
  static async open(nc: NatsConnection, timeoutMs: number): Promise<EventReader> {
    let firstError: unknown;
    for (const apiPrefix of API_PREFIXES) {
      const jsm = await nc.jetstreamManager({ apiPrefix, timeout: timeoutMs, checkAPI: false });
      try {
        const info = await jsm.streams.info(STREAM);
        return new EventReader(jsm, info.state.last_seq);
      } catch (error) {
        // Stream missing where the API does answer: no other prefix will have it either.
        if (error instanceof NatsError && error.api_error?.err_code === 10059) throw new Error(`stream ${STREAM} does not exist (is the registry running? it declares the stream)`);
        firstError ??= error;
      }
    }
    throw firstError;
  }

  /** The first message on `filter` at or after `sequence`, or undefined when there is none yet. */
  async next(filter: string, sequence: number): Promise<StoredMsg | undefined> {
    try {
      // nats.js 2.29 types `getMessage` without `next_by_subj`; the server (2.9+) takes it.
      return await this.jsm.streams.getMessage(STREAM, { seq: sequence, next_by_subj: filter } as unknown as MsgRequest);
    } catch (error) {
      if (error instanceof NatsError && error.api_error?.code === 404) return undefined;
      throw error;
    }
  }

  /**
   * Every message on `filter` from sequence `from` on, as it arrives: reads while there is more,
   * then looks again every `pollMs`. Ends when `stop` is aborted. A failed read (NATS
   * reconnecting) is retried after `pollMs`, from where it left off.
   */
  async *follow(filter: string, from: number, stop: AbortSignal, pollMs = 250): AsyncGenerator<StoredMsg> {
    let sequence = from;
    while (!stop.aborted) {
      let message: StoredMsg | undefined;
      try {
        message = await this.next(filter, sequence);
      } catch (error) {
        // A refusal will not change by asking again; anything else (a reconnect, a timeout) may.
        if (error instanceof NatsError && error.code === ErrorCode.PermissionsViolation) throw error;
        message = undefined;
      }
      if (message) {
        sequence = message.seq + 1;
        yield message;
        continue;
      }
      await sleep(pollMs, stop);
    }
  }
}

function sleep(ms: number, stop: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    stop.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      stop.removeEventListener('abort', done);
      resolve();
    }
  });
}
