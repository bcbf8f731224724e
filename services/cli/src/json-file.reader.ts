import { parse, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { readFileSync } from 'node:fs';
import { CliError, EXIT } from './cli.errors';

/** Where in a text an offset falls, 1-based, as editors count. */
export function lineColumnOf(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

const WORDS: Record<string, string> = {
  InvalidSymbol: 'an invalid character',
  InvalidNumberFormat: 'an invalid number',
  PropertyNameExpected: 'a property name (in double quotes) expected',
  ValueExpected: 'a value expected',
  ColonExpected: "':' expected",
  CommaExpected: "',' expected",
  CloseBraceExpected: "'}' expected",
  CloseBracketExpected: "']' expected",
  EndOfFileExpected: 'nothing more expected after the value',
  InvalidCommentToken: 'comments are not JSON',
  UnexpectedEndOfComment: 'an unfinished comment',
  UnexpectedEndOfString: 'an unterminated string',
  UnexpectedEndOfNumber: 'an unfinished number',
  InvalidUnicode: 'an invalid \\u escape',
  InvalidEscapeCharacter: 'an invalid escape character',
  InvalidCharacter: 'a control character inside a string',
};

/**
 * Parses `text` as one JSON object. A syntax error names `label`, the line and column and what
 * was expected, and never quotes the text: a source document holds an API token.
 */
export function parseJsonObject(text: string, label: string): Record<string, unknown> {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (body.trim() === '') throw new CliError(EXIT.usage, `${label}: empty file, expected a JSON object`);
  const errors: ParseError[] = [];
  parse(body, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (first) {
    const { line, column } = lineColumnOf(body, first.offset);
    const code = printParseErrorCode(first.error);
    throw new CliError(EXIT.usage, `${label}:${line}:${column}: invalid JSON: ${WORDS[code] ?? code} at line ${line}, column ${column}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    // V8's message quotes the text around the error: it could be the token.
    throw new CliError(EXIT.usage, `${label}: invalid JSON`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CliError(EXIT.usage, `${label}: expected a JSON object (a source document), found ${Array.isArray(value) ? 'an array' : value === null ? 'null' : `a ${typeof value}`}`);
  }
  return value as Record<string, unknown>;
}

/** Reads and parses a source document file; `-` reads standard input. */
export function readJsonFile(path: string, read: (path: string | number) => string = (p) => readFileSync(p, 'utf8')): Record<string, unknown> {
  const label = path === '-' ? '(stdin)' : path;
  let text: string;
  try {
    text = read(path === '-' ? 0 : path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (code ?? 'unreadable');
    throw new CliError(EXIT.usage, `cannot read ${label}: ${why}`);
  }
  return parseJsonObject(text, label);
}
