import type { Decider } from '../decider';

/** Decides `commands` one after the other, each on the state the previous events led to: every event, and the state at the end. */
export function decideAll<State, Command, Event extends { type: string; data: unknown }>(
  decider: Decider<State, Command, Event>,
  commands: readonly Command[],
  from: State = decider.initialState(),
): { events: Event[]; state: State } {
  const events: Event[] = [];
  let state = from;
  for (const command of commands) {
    const decided = decider.decide(command, state);
    events.push(...decided);
    state = decided.reduce((s, e) => decider.evolve(s, e), state);
  }
  return { events, state };
}
