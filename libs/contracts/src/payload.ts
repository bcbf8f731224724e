import type { z } from 'zod';
import { CommandError, commandErrorFromZod } from './command-error';

/** The largest command the registry reads. */
export const MAX_COMMAND_BYTES = 256 * 1024;
const MAX_DEPTH = 32;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes a command payload: bounded size, valid UTF-8, JSON, bounded nesting. */
export function parseJsonPayload(bytes: Uint8Array): unknown {
  if (bytes.byteLength > MAX_COMMAND_BYTES) {
    throw new CommandError('PayloadTooLarge', `the payload is ${bytes.byteLength} bytes; the limit is ${MAX_COMMAND_BYTES}`);
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new CommandError('InvalidJson', 'the payload is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof SyntaxError ? error.message : 'it is nested too deeply';
    throw new CommandError('InvalidJson', `the payload is not valid JSON: ${reason}`);
  }
  if (depthOf(value) > MAX_DEPTH) throw new CommandError('InvalidJson', `the payload is nested more than ${MAX_DEPTH} levels deep`);
  return value;
}

/** Decodes and validates a command; any problem is a {@link CommandError} naming the bad fields. */
export function parseCommand<Schema extends z.ZodType>(schema: Schema, bytes: Uint8Array): z.output<Schema> {
  return validateCommand(schema, parseJsonPayload(bytes));
}

/** Validates an already decoded command (see {@link parseJsonPayload}). */
export function validateCommand<Schema extends z.ZodType>(schema: Schema, value: unknown): z.output<Schema> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CommandError('ValidationError', 'the payload must be a JSON object');
  }
  const result = schema.safeParse(value);
  if (!result.success) throw commandErrorFromZod(result.error);
  return result.data;
}

function depthOf(root: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (depth > max) max = depth;
    if (max > MAX_DEPTH) return max;
    for (const inner of Object.values(value)) stack.push([inner, depth + 1]);
  }
  return max;
}
