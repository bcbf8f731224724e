import { type Db } from 'mongodb';
import { headers as natsHeaders, type JetStreamClient, type JetStreamManager } from 'nats';
import { EventTailer, type TailerOptions } from './event.tailer';
import { type RecordedEvent } from './event.types';
import { type MongoEventStore } from './mongo.event-store';

/** Headers set on every relayed message. */
export const EVENT_HEADERS = {
  position: 'S1c-Position',
  streamId: 'S1c-Stream-Id',
  version: 'S1c-Version',
  type: 'S1c-Event-Type',
  /** Which log the event comes from ({@link MongoEventStore.logId}). */
  logId: 'S1c-Log-Id',
} as const;

/** How far back recovery looks for this log's last message among other logs' messages. */
const RECOVERY_SCAN_LIMIT = 1000;

/** Options of {@link OutboxRelay}. */
export interface OutboxRelayOptions extends TailerOptions {
  /** Checkpoint id in `relay_checkpoints`. */
  name: string;
  /** The JetStream stream the subjects belong to (declared by the caller); used for recovery. */
  streamName: string;
  subjectFor(event: RecordedEvent): string;
}

/** The JSON body of a relayed message. */
export interface RelayedEventPayload {
  eventId: string;
  streamId: string;
  version: number;
  position: number;
  type: string;
  data: unknown;
  metadata: Record<string, unknown>;
  time: string;
}

const encoder = new TextEncoder();

/**
 * Publishes every event of the log to JetStream exactly once, in position order, with
 * `Nats-Msg-Id` = eventId and the {@link EVENT_HEADERS}. Each publish is acknowledged before
 * the next; the checkpoint (`relay_checkpoints`) is saved after each batch.
 *
 * Exactly-once does not rest on the dedupe window alone: on start the relay finds this log's last
 * message in the stream (by the `S1c-Log-Id` header: other logs may publish to the same stream)
 * and moves its checkpoint up to that message's position, since everything before it was
 * published earlier (strict order).
 */
export class OutboxRelay {
  private readonly tailer: EventTailer;
  private logId: string | undefined;

  constructor(
    private readonly store: MongoEventStore,
    db: Db,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly options: OutboxRelayOptions,
  ) {
    this.tailer = new EventTailer(
      store,
      db,
      'relay_checkpoints',
      options.name,
      { init: () => this.recover(), handle: (event) => this.publish(event) },
      options,
    );
  }

  /** Recovers the checkpoint from the stream, then starts the background loop. */
  start(): Promise<void> {
    return this.tailer.start();
  }

  /** Stops the loop, waiting for the batch in progress. */
  stop(): Promise<void> {
    return this.tailer.stop();
  }

  /** Publishes until the checkpoint reaches `untilPosition` (default: the current head); returns it. */
  catchUp(untilPosition?: number): Promise<number> {
    return this.tailer.catchUp(untilPosition);
  }

  /** The last position published (as saved). */
  checkpoint(): Promise<number> {
    return this.tailer.checkpoint();
  }

  private async recover(): Promise<void> {
    this.logId ??= await this.store.logId();
    const info = await this.jsm.streams.info(this.options.streamName);
    if (info.state.messages === 0) return;
    const oldest = Math.max(info.state.first_seq, info.state.last_seq - RECOVERY_SCAN_LIMIT + 1);
    for (let seq = info.state.last_seq; seq >= oldest; seq--) {
      const message = await this.jsm.streams.getMessage(this.options.streamName, { seq }).catch(() => undefined);
      if (!message || message.header.get(EVENT_HEADERS.logId) !== this.logId) continue;
      const position = Number(message.header.get(EVENT_HEADERS.position));
      if (!Number.isSafeInteger(position) || position <= 0) return;
      const saved = await this.tailer.checkpoint();
      if (position > saved) {
        this.options.logger?.warn(
          { name: this.options.name, saved, published: position },
          'relay checkpoint was behind the stream (crash after publish); moving it forward',
        );
        await this.tailer.saveCheckpoint(position);
      }
      return;
    }
  }

  private async publish(event: RecordedEvent): Promise<void> {
    const h = natsHeaders();
    h.set(EVENT_HEADERS.position, String(event.position));
    h.set(EVENT_HEADERS.streamId, event.streamId);
    h.set(EVENT_HEADERS.version, String(event.version));
    h.set(EVENT_HEADERS.type, event.type);
    this.logId ??= await this.store.logId();
    h.set(EVENT_HEADERS.logId, this.logId);
    const payload: RelayedEventPayload = { ...event, time: event.time.toISOString() };
    await this.js.publish(this.options.subjectFor(event), encoder.encode(JSON.stringify(payload)), {
      msgID: event.eventId,
      headers: h,
    });
  }
}
