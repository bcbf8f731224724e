import type { CliError } from '../cli.errors';
import type { Style } from './style';

/** An expected failure for stderr: `s1c: <message>`, then one indented line per detail. */
export function renderError(error: Pick<CliError, 'message' | 'lines'>, style: Style): string {
  return [`${style.red('s1c:')} ${error.message}`, ...error.lines.map((line) => `  - ${line}`)].join('\n') + '\n';
}
