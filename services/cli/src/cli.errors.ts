import type { ErrorReply } from '@s1c/contracts';

/** The exit codes of `s1c` (README.md "Exit codes"). */
export const EXIT = {
  ok: 0,
  /** The command was refused (a `{"ok":false}` reply), or its outcome is a failure (a test with problems, a wait that ended in Error). */
  refused: 1,
  /** Bad flags or arguments, an unreadable file, bad JSON. */
  usage: 2,
  /** NATS, the registry or the health API cannot be reached. */
  unreachable: 3,
  /** No answer in time. */
  timeout: 4,
  /** An answer that does not match the contract. */
  badReply: 5,
  /** A bug in s1c itself. */
  internal: 70,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * An expected failure: its message is printed (never a stack) and the process ends with
 * `exitCode`. The message must never carry file contents or credentials.
 */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    /** Further lines printed under the message (e.g. one per bad field). */
    readonly lines: readonly string[] = [],
  ) {
    super(message);
  }
}

/** The registry refused the command; `reply` is the exact `{"ok":false,...}` reply. */
export class RefusedError extends CliError {
  constructor(readonly reply: ErrorReply) {
    super(EXIT.refused, `${reply.error.code}: ${reply.error.message}`, (reply.error.details ?? []).map((d) => `${d.path || '(payload)'}: ${d.message}`));
  }
}

/** A URL safe to print: user info (`nats://user:pass@host`) and query strings are dropped. */
export function printableUrl(url: string): string {
  return url
    .split(',')
    .map((one) => {
      const trimmed = one.trim();
      try {
        const parsed = new URL(trimmed.includes('://') ? trimmed : `nats://${trimmed}`);
        parsed.username = '';
        parsed.password = '';
        parsed.search = '';
        parsed.hash = '';
        return trimmed.includes('://') ? parsed.toString().replace(/\/$/, '') : parsed.host;
      } catch {
        return '(unparsable URL)';
      }
    })
    .join(',');
}
