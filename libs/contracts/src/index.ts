export { isNonPublicAddress, isNonPublicHost } from './address-policy';
export { normalizeBaseUrl, type BaseUrlPolicy } from './base-url';
export {
  CommandError,
  commandErrorFromZod,
  ERROR_CODES,
  errorBodySchema,
  errorDetailSchema,
  errorReplySchema,
  formatPath,
  type ErrorBody,
  type ErrorCode,
  type ErrorDetail,
  type ErrorReply,
} from './command-error';
export { MAX_COMMAND_BYTES, parseCommand, parseJsonPayload, validateCommand } from './payload';
export {
  listSourcesCommandSchema,
  listSourcesReplySchema,
  replayReplySchema,
  testReplySchema,
  SOURCE_STATES,
  sourceDocumentSchema,
  sourceReplySchema,
  sourceStateSchema,
  type ListSourcesCommand,
  type ListSourcesReply,
  type ReplayReply,
  type TestReply,
  type SourceDocument,
  type SourceReply,
  type SourceStateName,
} from './replies';
export {
  collectorIdSchema,
  createSourceCommandSchema,
  DEFAULT_COLLECTOR_ID,
  newSecretOf,
  replaySourceCommandSchema,
  RESERVED_FIELD_KEYS,
  SCHEMA_REF_TYPE,
  SECRET_MASK,
  SIEM_FORWARD_FIELD,
  SOURCE_TYPE,
  sourceIdSchema,
  sourceRefCommandSchema,
  toSourceConfig,
  updateSourceCommandSchema,
  type CreateSourceCommand,
  type ReplaySourceCommand,
  type SourceRefCommand,
  type UpdateSourceCommand,
} from './source-document.schema';
export { commandSubject, SOURCE_COMMANDS, type SourceCommandName } from './subjects';
export { isSafeText, safeText } from './text';
export { DATA_RECORD_HEADERS, fetchJobSchema, progressSchema, RAW_RECORD_HEADERS, type FetchJob } from './collection.contracts';
