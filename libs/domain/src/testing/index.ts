export { MemoryLog, SECRET, sourceConfig, VersionedStates, type LoggedEvent, type StatesView } from './memory.log';
export { decideAll } from './decide-all';
