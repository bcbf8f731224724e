/** The operations of the command API (each served on the subject `subjects.command(op)` of `@s1c/messaging`). */
export const SOURCE_COMMANDS = ['create', 'update', 'delete', 'get', 'list', 'restart', 'test', 'replay', 'history', 'reencrypt'] as const;
export type SourceCommandName = (typeof SOURCE_COMMANDS)[number];
