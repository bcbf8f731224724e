import { randomInt } from 'node:crypto';

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

/** A fresh database name for one test; FerretDB accepts latin letters only. */
export function uniqueDbName(prefix = 'test'): string {
  let suffix = '';
  for (let i = 0; i < 12; i++) suffix += LETTERS[randomInt(LETTERS.length)];
  return `${prefix.replace(/[^a-z]/gi, '')}${suffix}`;
}
