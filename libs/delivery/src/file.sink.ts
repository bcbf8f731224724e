import { SOURCE_APIS } from '@s1c/domain';
import type { Logger } from '@s1c/logger';
import { deadLetter, nakDelayFor } from '@s1c/messaging';
import type { JetStreamClient, JsMsg } from 'nats';
import { mkdir, open, readdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DATA_RECORD_HEADERS, parseDataRecord } from './data-record';

/** The durable consumer of the file sink on `S1C_DATA`. */
export const FILE_SINK_DURABLE = 'sink-file';

/**
 * What a line holds: `record`, the output record (the SIEM metadata, the source, the API and the
 * fetch time next to the S1 object under `event`); `event`, the bare S1 object.
 */
export type FileSinkFormat = 'record' | 'event';

export interface FileSinkSettings {
  readonly dir: string;
  readonly maxBytes: number;
  readonly format: FileSinkFormat;
}

const SAFE_SOURCE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const NEWLINE = Buffer.from('\n');

/**
 * Writes output records for a log shipper or local use: one NDJSON line per record in
 * `<dir>/<sourceId>/<api>.ndjson`, the output record or its bare event ({@link FileSinkFormat}),
 * byte for byte. A file that would grow beyond `maxBytes` is first renamed to
 * `<api>.<n>.ndjson` (n = 1, 2, ... in order of rotation) and a new one started. Lines are written
 * and flushed to disk (fsync) before the messages are acked, so nothing acked is lost; a crash
 * between write and ack can repeat lines (at least once: files are for local use).
 */
export class FileSink {
  private readonly sizes = new Map<string, number>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly js: JetStreamClient,
    private readonly settings: FileSinkSettings,
    private readonly logger: Logger,
  ) {}

  /** A {@link BatchHandler}: writes the batch, then acks it. */
  readonly handle = async (messages: readonly JsMsg[]): Promise<void> => {
    const groups = new Map<string, { sourceId: string; api: string; lines: Buffer[]; messages: JsMsg[] }>();
    for (const m of messages) {
      const parsed = parseDataRecord(m.data, Number(m.headers?.get(DATA_RECORD_HEADERS.eventOffset)));
      const api = parsed?.envelope.api;
      const sourceId = parsed?.envelope.sourceId;
      if (!parsed || !api || !sourceId || !SAFE_SOURCE_ID.test(sourceId) || !(SOURCE_APIS as readonly string[]).includes(api)) {
        try {
          await deadLetter(this.js, m, FILE_SINK_DURABLE, 'PoisonMessage', 'not an output record (headers or body shape)');
        } catch {
          m.nak(5_000);
        }
        continue;
      }
      const key = `${sourceId}/${api}`;
      let group = groups.get(key);
      if (!group) {
        group = { sourceId, api, lines: [], messages: [] };
        groups.set(key, group);
      }
      // Either way the bytes as they are: the output record as the enricher built it, or its event.
      const line = this.settings.format === 'event' ? parsed.event : m.data;
      group.lines.push(Buffer.from(line.buffer, line.byteOffset, line.byteLength), NEWLINE);
      group.messages.push(m);
    }
    // One writer at a time: rotation reads and renames files.
    const run = this.queue.then(async () => {
      for (const group of groups.values()) {
        try {
          await this.write(group.sourceId, group.api, group.lines);
          for (const m of group.messages) m.ack();
        } catch (error) {
          this.logger.error({ sourceId: group.sourceId, api: group.api, err: error }, 'file sink write failed; retrying');
          for (const m of group.messages) m.nak(nakDelayFor(m.info.deliveryCount));
        }
      }
    });
    this.queue = run.catch(() => undefined);
    await run;
  };

  private async write(sourceId: string, api: string, lines: readonly Buffer[]): Promise<void> {
    const dir = join(this.settings.dir, sourceId);
    const path = join(dir, `${api}.ndjson`);
    await mkdir(dir, { recursive: true });
    let size = this.sizes.get(path);
    if (size === undefined) size = await stat(path).then((s) => s.size, () => 0);
    // Lines come in pairs (record, newline): a record never straddles two files.
    try {
      await this.writeLines(path, dir, api, size, lines);
    } catch (error) {
      // What is on disk is unknown now: stat the file again next time.
      this.sizes.delete(path);
      throw error;
    }
  }

  private async writeLines(path: string, dir: string, api: string, startSize: number, lines: readonly Buffer[]): Promise<void> {
    let size = startSize;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async () => {
      if (pending.length === 0) return;
      const handle = await open(path, 'a');
      try {
        await handle.writev(pending);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      size += pendingBytes;
      pending = [];
      pendingBytes = 0;
    };
    for (let i = 0; i < lines.length; i += 2) {
      const bytes = lines[i]!.length + 1;
      if (size + pendingBytes > 0 && size + pendingBytes + bytes > this.settings.maxBytes) {
        await flush();
        if (size > 0) {
          await rename(path, join(dir, `${api}.${await this.nextSequence(dir, api)}.ndjson`));
          size = 0;
        }
      }
      pending.push(lines[i]!, lines[i + 1]!);
      pendingBytes += bytes;
    }
    await flush();
    this.sizes.set(path, size);
  }

  private async nextSequence(dir: string, api: string): Promise<number> {
    const pattern = new RegExp(`^${api}\\.(\\d+)\\.ndjson$`);
    let max = 0;
    for (const name of await readdir(dir)) {
      const match = pattern.exec(name);
      if (match) max = Math.max(max, Number(match[1]));
    }
    return max + 1;
  }
}
