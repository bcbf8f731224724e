import { z } from 'zod';

/* eslint-disable no-control-regex -- matching control characters is the point */
// C0/C1 controls except tab, newline and carriage return; the bidirectional overrides, isolates and
// marks that make text render differently from what it contains ("Trojan Source"); invisible
// characters that make two names look the same (zero-width space, word joiner, BOM); interlinear
// annotations; and tag characters, which carry hidden ASCII. Single-line text also refuses the
// Unicode line and paragraph separators.
const CONTROL_MULTILINE =
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u061C\u200B\u200E\u200F\u202A-\u202E\u2060\u2066-\u2069\uFEFF\uFFF9-\uFFFB\u{E0000}-\u{E007F}]/u;
const CONTROL_SINGLE_LINE =
  /[\u0000-\u001F\u007F-\u009F\u061C\u200B\u200E\u200F\u2028\u2029\u202A-\u202E\u2060\u2066-\u2069\uFEFF\uFFF9-\uFFFB\u{E0000}-\u{E007F}]/u;
/* eslint-enable no-control-regex */

/** Whether a string is safe to store and show: well-formed Unicode without control characters. */
export function isSafeText(value: string, options: { multiline?: boolean } = {}): boolean {
  return value.isWellFormed() && !(options.multiline ? CONTROL_MULTILINE : CONTROL_SINGLE_LINE).test(value);
}

/** A bounded, well-formed string without control characters. */
export function safeText(options: { min?: number; max: number; multiline?: boolean }) {
  return z
    .string()
    .min(options.min ?? 0, options.min ? `must not be empty` : undefined)
    .max(options.max, `must be at most ${options.max} characters`)
    .refine((value) => value.isWellFormed(), 'must be valid Unicode text')
    .refine((value) => isSafeText(value, options), 'must not contain control, bidirectional or invisible formatting characters');
}
