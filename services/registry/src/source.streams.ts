export { sourceStreamId } from '@s1c/domain';
export { nameStreamId, relaySubjectFor } from '@s1c/event-store';
