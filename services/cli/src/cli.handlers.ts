import {
  listSourcesReplySchema,
  reencryptReplySchema,
  replayReplySchema,
  sourceHistoryReplySchema,
  sourceReplySchema,
  testReplySchema,
  type ListSourcesCommand,
  type SourceDocument,
  type SourceReply,
} from '@s1c/contracts';
import { STREAMS, subjects } from '@s1c/messaging';
import { settingsFrom, type CliSettings } from './cli.env';
import { CliError, EXIT, RefusedError } from './cli.errors';
import type {
  CommonOptions,
  CreateOptions,
  DeleteOptions,
  Handlers,
  HealthOptions,
  HistoryOptions,
  ListOptions,
  RefOptions,
  ReplayOptions,
  RestartOptions,
  TestOptions,
  UpdateOptions,
  WatchOptions,
} from './cli.program';
import { EventReader } from './event.reader';
import { HealthClient } from './health.client';
import { readJsonFile } from './json-file.reader';
import { NatsSession } from './nats.session';
import { ProgressReporter } from './progress.reporter';
import { renderHistory, renderReencryptReply } from './render/audit.renderer';
import { renderHealthDetail, renderHealthOverview } from './render/health.renderer';
import { renderReplayReply, renderSourceDetail, renderSourceTable, renderTestReply, testPassed } from './render/source.renderer';
import { styleFor, type Style } from './render/style';
import { relayedEventOf, renderWatchLine, WatchTracker, type WatchEvent } from './render/watch.renderer';
import { waitForStates } from './source.wait';

/** The process around the handlers: output streams, environment, clock, signals. */
export interface CliIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  now(): Date;
  /** Resolves when the user asks to stop (Ctrl-C, SIGTERM). */
  interrupted(): Promise<void>;
}

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

/** The commands' behaviour: call the registry or the health API, render the answer. */
export class CliHandlers implements Handlers {
  constructor(private readonly io: CliIo) {}

  async sourceCreate(o: CreateOptions): Promise<number> {
    const document = readJsonFile(o.file);
    if (o.collector) document.collectorId = o.collector;
    return this.withSession(o, async (session, style) => {
      const reply = await session.command('create', document, sourceReplySchema);
      if (!o.wait) return this.printSource(reply, o, style);
      this.io.stderr.write(`Created source ${reply.source.id} (${reply.source.config.name}).\n`);
      return this.waitUntilCollecting(session, reply, o, style);
    });
  }

  async sourceUpdate(o: UpdateOptions): Promise<number> {
    const document = readJsonFile(o.file);
    // A saved `get --json` reply works as is.
    if (document.ok === true) delete document.ok;
    if (o.id) document.id = o.id;
    if (o.version !== undefined) document.version = o.version;
    if (document.id === undefined && !hasSourceId(document)) {
      throw new CliError(EXIT.usage, `which source? give its id (s1c source update ID -f ${o.file}) or put "id" in the document`);
    }
    return this.withSession(o, async (session, style) => {
      const reply = await session.command('update', document, sourceReplySchema);
      if (!o.wait) return this.printSource(reply, o, style);
      this.io.stderr.write(`Updated source ${reply.source.id} to version ${reply.version}.\n`);
      return this.waitUntilCollecting(session, reply, o, style);
    });
  }

  async sourceDelete(o: DeleteOptions): Promise<number> {
    return this.withSession(o, async (session, style) => {
      const reply = await session.command('delete', { id: o.id }, sourceReplySchema);
      if (o.json) this.io.stdout.write(json(reply));
      else if (!o.wait) this.io.stdout.write(`Source ${reply.source.id} (${reply.source.config.name}) is ${style.state(reply.source.state.state)}: collection stops, then it is deleted.\n`);
      if (!o.wait || reply.source.state.state === 'Deleted') return EXIT.ok;
      const progress = new ProgressReporter(this.io.stderr);
      progress.step(renderWatchLine({ kind: 'state', time: reply.source.state.since, sourceId: reply.source.id, name: reply.source.config.name, event: 'SourceDeletionRequested', from: null, to: reply.source.state.state }, this.errStyle(o)));
      progress.waiting(`waiting for ${reply.source.config.name} to be Deleted`);
      try {
        const tracker = new WatchTracker();
        tracker.learn(reply.source.id, reply.source.config.name);
        await waitForStates(session, reply.source.id, reply.version + 1, ['Deleted'], o.waitTimeout, (e) => progress.step(renderWatchLine(e, this.errStyle(o))), tracker);
      } finally {
        progress.stop();
      }
      if (!o.json) this.io.stdout.write(`Source ${reply.source.id} (${reply.source.config.name}) deleted.\n`);
      return EXIT.ok;
    });
  }

  async sourceGet(o: RefOptions): Promise<number> {
    return this.withSession(o, async (session, style) => {
      const reply = await session.command('get', { id: o.id, ...(o.collector ? { collectorId: o.collector } : {}) }, sourceReplySchema);
      return this.printSource(reply, o, style);
    });
  }

  async sourceRestart(o: RestartOptions): Promise<number> {
    return this.withSession(o, async (session, style) => {
      const reply = await session.command('restart', { id: o.id }, sourceReplySchema);
      if (!o.wait) return this.printSource(reply, o, style);
      this.io.stderr.write(`Restarted source ${reply.source.id}.\n`);
      return this.waitUntilCollecting(session, reply, o, style);
    });
  }

  async sourceList(o: ListOptions): Promise<number> {
    return this.withSession(o, async (session, style) => {
      const request: Partial<ListSourcesCommand> = {};
      if (o.collector) request.collectorId = o.collector;
      if (o.state.length > 0) request.state = o.state;
      if (o.name) request.name = o.name;
      if (o.limit) request.limit = o.limit;
      let cursor = o.cursor;
      const sources: SourceDocument[] = [];
      let nextCursor: string | null;
      for (;;) {
        const reply = await session.command('list', { ...request, ...(cursor ? { cursor } : {}) }, listSourcesReplySchema);
        sources.push(...reply.sources);
        nextCursor = reply.nextCursor;
        if (!o.all || !nextCursor) break;
        cursor = nextCursor;
      }
      if (o.json) {
        this.io.stdout.write(json({ ok: true, sources, nextCursor }));
      } else {
        this.io.stdout.write(renderSourceTable(sources, style, this.io.now()));
        if (nextCursor) this.io.stderr.write(`More sources: add --all, or --cursor ${nextCursor}\n`);
      }
      return EXIT.ok;
    });
  }

  async sourceTest(o: TestOptions): Promise<number> {
    let payload: Record<string, unknown>;
    if (o.file) {
      payload = readJsonFile(o.file);
      if (o.collector) payload.collectorId = o.collector;
    } else {
      payload = { id: o.id };
    }
    return this.withSession(o, async (session, style) => {
      const reply = await session.command('test', payload, testReplySchema);
      this.io.stdout.write(o.json ? json(reply) : renderTestReply(reply, style));
      return testPassed(reply) ? EXIT.ok : EXIT.refused;
    });
  }

  async sourceReplay(o: ReplayOptions): Promise<number> {
    return this.withSession(o, async (session) => {
      const reply = await session.command('replay', { id: o.id, api: o.api, from: o.from, to: o.to }, replayReplySchema);
      this.io.stdout.write(o.json ? json(reply) : renderReplayReply(reply));
      return EXIT.ok;
    });
  }

  async sourceHistory(o: HistoryOptions): Promise<number> {
    return this.withSession(o, async (session, style) => {
      const reply = await session.command('history', { id: o.id, ...(o.collector ? { collectorId: o.collector } : {}) }, sourceHistoryReplySchema);
      this.io.stdout.write(o.json ? json(reply) : renderHistory(reply, style));
      return EXIT.ok;
    });
  }

  async secretsReencrypt(o: CommonOptions): Promise<number> {
    return this.withSession(o, async (session, style) => {
      const reply = await session.command('reencrypt', {}, reencryptReplySchema);
      this.io.stdout.write(o.json ? json(reply) : renderReencryptReply(reply, style));
      return reply.failed.length === 0 ? EXIT.ok : EXIT.refused;
    });
  }

  async health(o: HealthOptions): Promise<number> {
    const client = new HealthClient(this.settings(o));
    const style = this.outStyle(o);
    if (o.id) {
      const { value, body } = await client.source(o.id);
      this.io.stdout.write(o.json ? json(body) : renderHealthDetail(value, style, this.io.now()));
      return EXIT.ok;
    }
    const { items, raw } = await client.sources();
    this.io.stdout.write(o.json ? json({ items: raw, total: raw.length }) : renderHealthOverview(items, style, this.io.now()));
    return EXIT.ok;
  }

  async watch(o: WatchOptions): Promise<number> {
    const settings = this.settings(o);
    const session = await NatsSession.open(settings, { reconnect: true });
    const style = this.outStyle(o);
    const tracker = new WatchTracker();
    const lookedUp = new Set<string>();
    try {
      if (o.id) {
        const reply = await session.command('get', { id: o.id }, sourceReplySchema);
        tracker.learn(reply.source.id, reply.source.config.name, reply.source.state.state);
        lookedUp.add(reply.source.id);
      }
      let reader: EventReader;
      try {
        reader = await EventReader.open(session.nc, session.timeoutMs);
      } catch (error) {
        throw new CliError(EXIT.unreachable, `cannot follow JetStream stream ${STREAMS.events.name}: ${(error as Error).message}`);
      }
      const stop = new AbortController();
      void this.io.interrupted().then(() => stop.abort());
      this.io.stderr.write(`Watching ${o.id ? `source ${o.id}` : 'every source'} for state and health changes (Ctrl-C to stop)...\n`);
      // From now on: what is already in the stream is history, not a change.
      const messages = reader.follow(subjects.every.event, reader.lastSequence + 1, stop.signal);
      for await (const message of messages) {
        const event = relayedEventOf(message);
        if (!event) continue;
        const sourceId = WatchTracker.sourceIdOf(event);
        if (!sourceId || (o.id && sourceId !== o.id)) continue;
        if (!tracker.nameOf(sourceId) && !lookedUp.has(sourceId) && event.type !== 'SourceCreated') {
          lookedUp.add(sourceId);
          await this.learnName(session, tracker, sourceId);
        }
        const line = tracker.apply(event);
        if (line) this.io.stdout.write(o.json ? `${JSON.stringify(line)}\n` : renderWatchLine(line, style));
      }
      return EXIT.ok;
    } finally {
      await session.close();
    }
  }

  private async learnName(session: NatsSession, tracker: WatchTracker, sourceId: string): Promise<void> {
    try {
      const reply = await session.command('get', { id: sourceId }, sourceReplySchema);
      tracker.learn(sourceId, reply.source.config.name);
    } catch {
      // A deleted or unknown source: its id is shown instead of its name.
    }
  }

  private async waitUntilCollecting(session: NatsSession, reply: SourceReply, o: CommonOptions & { waitTimeout: number }, style: Style): Promise<number> {
    const progress = new ProgressReporter(this.io.stderr);
    progress.waiting(`waiting for ${reply.source.config.name} to be Collecting`);
    const tracker = new WatchTracker();
    tracker.learn(reply.source.id, reply.source.config.name);
    let outcome;
    try {
      outcome = await waitForStates(session, reply.source.id, reply.version, ['Collecting', 'Error'], o.waitTimeout, (e: WatchEvent) => progress.step(renderWatchLine(e, this.errStyle(o))), tracker);
    } finally {
      progress.stop();
    }
    this.printSource(await this.getOnceCaughtUp(session, reply.source.id, outcome.state), o, style);
    if (outcome.state === 'Error') {
      this.io.stderr.write(`s1c: source ${reply.source.id} is in Error${outcome.last.kind === 'state' && outcome.last.reason ? `: ${outcome.last.reason}` : ''}\n`);
      return EXIT.refused;
    }
    return EXIT.ok;
  }

  /**
   * The source as `get` shows it once the registry's read model has caught up with the event the
   * wait saw (JetStream can be ahead of it by a poll); after a few seconds, as it is.
   */
  private async getOnceCaughtUp(session: NatsSession, id: string, state: string): Promise<SourceReply> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const current = await session.command('get', { id }, sourceReplySchema);
      if (current.source.state.state === state || Date.now() > deadline) return current;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  private printSource(reply: SourceReply, o: CommonOptions, style: Style): number {
    this.io.stdout.write(o.json ? json(reply) : renderSourceDetail(reply, style, this.io.now()));
    return EXIT.ok;
  }

  private async withSession(o: CommonOptions, work: (session: NatsSession, style: Style) => Promise<number>): Promise<number> {
    const session = await NatsSession.open(this.settings(o));
    try {
      return await work(session, this.outStyle(o));
    } finally {
      await session.close();
    }
  }

  private settings(o: CommonOptions): CliSettings {
    return settingsFrom(this.io.env, o);
  }

  private outStyle(o: CommonOptions): Style {
    return styleFor(this.io.stdout.isTTY, this.io.env, !o.color);
  }

  private errStyle(o: CommonOptions): Style {
    return styleFor(this.io.stderr.isTTY, this.io.env, !o.color);
  }
}

function hasSourceId(document: Record<string, unknown>): boolean {
  const source = document.source as { id?: unknown } | undefined;
  return typeof source?.id === 'string';
}

export { RefusedError };
