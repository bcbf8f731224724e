import { sourceStreamId } from '@s1c/domain';
import { EVENT_HEADERS, type RelayedEventPayload } from '@s1c/event-store';
import { Events, type Msg, type NatsConnection, type Subscription } from 'nats';
import type { SourceDirectory } from './source.directory';

/** Every relayed event of every source stream (core NATS: the enricher's user may not create consumers on `S1C_EVENTS`). */
export const SOURCE_EVENTS_SUBJECT = 's1c.evt.source.*.*';

const decoder = new TextDecoder();

export interface SourceFeedLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Counters for logs and tests. */
export interface SourceFeedStats {
  applied: number;
  /** Messages of another log (a different `S1c-Log-Id`), ignored. */
  foreign: number;
  /** Messages whose body could not be used: the source is re-read on its next record instead. */
  unusable: number;
  /** Disconnects and reconnects seen (each makes every source's next record re-read it once). */
  connectionChanges: number;
}

/**
 * Feeds the relayed source events (`s1c.evt.source.<id>.<Type>`, body `RelayedEventPayload`) into
 * the {@link SourceDirectory}, so that it folds new versions, updates and deletions without reading
 * the log. Messages of another log (`S1c-Log-Id`) are ignored; a message without a log id or whose
 * body cannot be used makes the source's next record read the log instead. Core NATS loses whatever is published while
 * the connection is down, so a disconnect or reconnect makes every source's next record read its
 * newer events once.
 */
export class SourceEventFeed {
  readonly stats: SourceFeedStats = { applied: 0, foreign: 0, unusable: 0, connectionChanges: 0 };
  private subscription: Subscription | undefined;
  private logId = '';

  constructor(
    private readonly nc: NatsConnection,
    private readonly logIdOf: () => Promise<string>,
    private readonly directory: SourceDirectory,
    private readonly logger: SourceFeedLogger,
  ) {}

  /** Subscribes (and waits until the server has the subscription) and watches the connection. */
  async start(): Promise<void> {
    this.logId = await this.logIdOf();
    this.subscription = this.nc.subscribe(SOURCE_EVENTS_SUBJECT, {
      callback: (error, msg) => {
        if (!error) this.handle(msg);
      },
    });
    void this.watchConnection();
    await this.nc.flush();
  }

  stop(): void {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
  }

  private async watchConnection(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type !== Events.Disconnect && status.type !== Events.Reconnect) continue;
      this.stats.connectionChanges += 1;
      this.directory.invalidateAll();
      if (status.type === Events.Reconnect) this.logger.info({}, 'NATS reconnected: each source is read again at its next record (relayed events may have been missed)');
    }
  }

  private handle(msg: Msg): void {
    const [, , , sourceId, type] = msg.subject.split('.');
    if (!sourceId || !type) return;
    const logId = msg.headers?.get(EVENT_HEADERS.logId) ?? '';
    if (logId !== '' && logId !== this.logId) {
      this.stats.foreign += 1;
      return;
    }
    const event = logId === '' ? undefined : parse(msg.data, sourceId, type);
    if (!event) {
      // Without a usable body, or a log id to trust it by, only the subject is known: the source's
      // next record asks the log (taking a deletion on the subject's word could drop live records).
      this.stats.unusable += 1;
      this.directory.invalidate(sourceId);
      return;
    }
    this.directory.applyRelayed(sourceId, event);
    this.stats.applied += 1;
  }
}

/** The relayed event, if its body is one of this source's stream and of the subject's type. */
function parse(data: Uint8Array, sourceId: string, type: string): { version: number; type: string; data: unknown } | undefined {
  let payload: Partial<RelayedEventPayload>;
  try {
    payload = JSON.parse(decoder.decode(data)) as Partial<RelayedEventPayload>;
  } catch {
    return undefined;
  }
  if (typeof payload !== 'object' || payload === null) return undefined;
  const { streamId, version, data: eventData } = payload;
  if (streamId !== sourceStreamId(sourceId) || payload.type !== type) return undefined;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) return undefined;
  if (typeof eventData !== 'object' || eventData === null) return undefined;
  return { version, type, data: eventData };
}
