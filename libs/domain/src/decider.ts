/**
 * An aggregate as a decider (emmett's shape): pure decisions and state folding. `decide` turns a
 * command and the current state into events (or throws a DomainError); `evolve` applies one event.
 */
export interface Decider<State, Command, Event extends { type: string; data: unknown }> {
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
  initialState(): State;
  /** The events decided for one append in fewer events that evolve to the same state (default: as they are). */
  compact?(events: readonly Event[]): Event[];
}

/** A command to an aggregate: its data, and when it was given (deciders read no clock). */
export interface Command<Type extends string, Data> {
  readonly type: Type;
  readonly data: Data;
  readonly metadata: { readonly now: Date };
}
