import { z } from 'zod';

/* eslint-disable no-control-regex -- matching control characters is the point */
// C0/C1 controls except tab, newline and carriage return, and the bidirectional overrides that
// make text render differently from what it contains ("Trojan Source").
const CONTROL_MULTILINE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/;
const CONTROL_SINGLE_LINE = /[\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/;
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
    .refine((value) => isSafeText(value, options), 'must not contain control characters');
}
