/** The operations of the command API, each on `s1c.cmd.source.<op>`. */
export const SOURCE_COMMANDS = ['create', 'update', 'delete', 'get', 'list', 'restart', 'test', 'replay', 'history', 'reencrypt'] as const;
export type SourceCommandName = (typeof SOURCE_COMMANDS)[number];

export const commandSubject = (op: SourceCommandName): string => `s1c.cmd.source.${op}`;
