import type { SourceStateName } from '@s1c/contracts';
import { STREAMS, subjects } from '@s1c/messaging';
import { CliError, EXIT } from './cli.errors';
import { EventReader } from './event.reader';
import type { NatsSession } from './nats.session';
import { relayedEventOf, WatchTracker, type WatchEvent } from './render/watch.renderer';

/** What a wait ends with. */
export interface WaitOutcome {
  state: SourceStateName;
  last: WatchEvent;
}

/**
 * Follows one source's lifecycle on `S1C_EVENTS` (`s1c.evt.source.<id>.*`, from the start of
 * its history, with an {@link EventReader}) until it reaches one of `until`.
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
  let reader: EventReader;
  try {
    reader = await EventReader.open(session.nc, session.timeoutMs);
  } catch (error) {
    throw new CliError(EXIT.unreachable, `cannot read the source's events on JetStream stream ${STREAMS.events.name}: ${(error as Error).message}`);
  }
  const stop = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    stop.abort();
  }, timeoutMs);
  let lastState: SourceStateName | undefined;
  try {
    // From the start of the source's history: earlier events set the scene.
    for await (const message of reader.follow(subjects.sourceEvents(sourceId), 1, stop.signal)) {
      const event = relayedEventOf(message);
      if (!event) continue;
      const line = tracker.apply(event);
      if (!line || line.kind !== 'state') continue;
      lastState = line.to;
      if (event.version < fromVersion) continue;
      onChange(line);
      if (until.includes(line.to)) return { state: line.to, last: line };
    }
  } catch (error) {
    throw new CliError(EXIT.unreachable, `cannot read the source's events on JetStream stream ${STREAMS.events.name}: ${(error as Error).message}`);
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
  if (timedOut) {
    throw new CliError(EXIT.timeout, `source ${sourceId} is still ${lastState ?? 'in an unknown state'} after ${Math.round(timeoutMs / 1000)} s; waited for ${until.join(' or ')} (raise --wait-timeout)`);
  }
  throw new CliError(EXIT.unreachable, `the event stream closed before source ${sourceId} reached ${until.join(' or ')}`);
}
