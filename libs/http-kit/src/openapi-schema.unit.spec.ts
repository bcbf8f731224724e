import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { openApiQueryParameters, openApiSchema } from './openapi-schema';

describe('openApiSchema', () => {
  it('is JSON Schema 2020-12 without its dialect line, requests as sent and replies as built', () => {
    const limit = z.string().regex(/^\d+$/).transform(Number).default(50);
    expect(openApiSchema(z.object({ limit }), 'input')).toEqual({
      type: 'object',
      properties: { limit: { type: 'string', pattern: '^\\d+$' } },
    });
    expect(openApiSchema(z.object({ at: z.string().nullable() }), 'output')).toEqual({
      type: 'object',
      properties: { at: { type: ['string', 'null'] } },
      required: ['at'],
      additionalProperties: false,
    });
  });
});

describe('openApiQueryParameters', () => {
  it('makes one query parameter per property, its description beside the schema, required only when the schema says so', () => {
    const query = z.strictObject({
      state: z.enum(['a', 'b']).optional().meta({ description: 'A state.' }),
      collector: z.string().min(1),
    });
    expect(openApiQueryParameters(query)).toEqual([
      { name: 'state', in: 'query', required: false, description: 'A state.', schema: { type: 'string', enum: ['a', 'b'] } },
      { name: 'collector', in: 'query', required: true, schema: { type: 'string', minLength: 1 } },
    ]);
  });
});
