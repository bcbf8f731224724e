import type { SourceStateName } from '@s1c/contracts';
import { STREAMS } from '@s1c/messaging';
import type { ConsumerMessages } from 'nats';
import { CliError, EXIT } from './cli.errors';
import type { NatsSession } from './nats.session';
import { relayedEventOf, WatchTracker, type WatchEvent } from './render/watch.renderer';

/** What a wait ends with. */
export interface WaitOutcome {
  state: SourceStateName;
  last: WatchEvent;
}

/**
 * Follows one source's lifecycle on `S1C_EVENTS` (an ordered consumer on
 * `s1c.evt.source.<id>.*`, from the start of its history) until it reaches one of `until`.
 * Events before `fromVersion` (the version the command's reply named) only set the scene;
 * each later state change is handed to `onChange` as it happens, so none is missed the way
 * polling `get` could miss a state held for less than a poll.
 */
export async function waitForStates(
  session: NatsSession,
  sourceId: string,
  fromVersion: number,
  until: readonly SourceStateName[],
  timeoutMs: number,
  onChange: (event: WatchEvent) => void,
  tracker = new WatchTracker(),
): Promise<WaitOutcome> {
  let messages: ConsumerMessages;
  try {
    // No deliver_policy: nats.js 2.29's ordered consumer sends DeliverPolicy.All together with
    // opt_start_seq, which the server refuses, and consume() then retries for ever. Its default
    // (start at sequence 1) is "all".
    const consumer = await session.nc.jetstream().consumers.get(STREAMS.events.name, { filterSubjects: `s1c.evt.source.${sourceId}.*` });
    messages = await withDeadline(consumer.consume(), session.timeoutMs, 'JetStream did not start the consumer');
  } catch (error) {
    throw new CliError(EXIT.unreachable, `cannot follow the source's events on JetStream stream ${STREAMS.events.name}: ${(error as Error).message}`);
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void messages.close();
  }, timeoutMs);
  let lastState: SourceStateName | undefined;
  try {
    for await (const message of messages) {
      const event = relayedEventOf(message);
      if (!event) continue;
      const line = tracker.apply(event);
      if (!line || line.kind !== 'state') continue;
      lastState = line.to;
      if (event.version < fromVersion) continue;
      onChange(line);
      if (until.includes(line.to)) return { state: line.to, last: line };
    }
  } finally {
    clearTimeout(timer);
    await messages.close();
  }
  if (timedOut) {
    throw new CliError(EXIT.timeout, `source ${sourceId} is still ${lastState ?? 'in an unknown state'} after ${Math.round(timeoutMs / 1000)} s; waited for ${until.join(' or ')} (raise --wait-timeout)`);
  }
  throw new CliError(EXIT.unreachable, `the event stream closed before source ${sourceId} reached ${until.join(' or ')}`);
}

function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
