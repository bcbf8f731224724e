import { BadRequestException, HttpException, HttpStatus } from '@nestjs/common';
import { sourceIdSchema } from '@s1c/contracts';
import type { z } from 'zod';
import type { ApiErrorBody } from './api.schemas';

/**
 * Parses a request's query with `schema`; a bad or unknown parameter is a 400 that names each one
 * (and never echoes its value).
 */
export function parseQuery<S extends z.ZodType>(schema: S, query: unknown): z.infer<S> {
  const result = schema.safeParse(query ?? {});
  if (result.success) return result.data;
  const details: Array<{ parameter: string; message: string }> = [];
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) details.push({ parameter: key, message: 'unknown parameter' });
    } else {
      details.push({ parameter: String(issue.path[0] ?? '(query)'), message: issue.message });
    }
  }
  const names = [...new Set(details.map((d) => d.parameter))];
  const body: ApiErrorBody = { error: { code: 'BadRequest', message: `invalid query parameter(s): ${names.join(', ')}`, details } };
  throw new BadRequestException(body);
}

/**
 * Checks a source id taken from the path. Ids are 1-64 letters, digits, `-` or `_`, so anything
 * else (`..%2F`, a NUL, an operator) is a 400 before it reaches a query; the value is not echoed.
 */
export function parseSourceId(id: string): string {
  if (sourceIdSchema.safeParse(id).success) return id;
  const message = 'invalid source id: it must be 1-64 letters, digits, "-" or "_"';
  const body: ApiErrorBody = { error: { code: 'BadRequest', message, details: [{ parameter: 'id', message }] } };
  throw new BadRequestException(body);
}

export function notFound(what: string): HttpException {
  const body: ApiErrorBody = { error: { code: 'NotFound', message: `${what} not found` } };
  return new HttpException(body, HttpStatus.NOT_FOUND);
}

/** The service cannot answer yet (its read models are loading): a 503 the caller may retry. */
export function unavailable(message: string): HttpException {
  const body: ApiErrorBody = { error: { code: 'Unavailable', message } };
  return new HttpException(body, HttpStatus.SERVICE_UNAVAILABLE);
}
