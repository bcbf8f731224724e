import { z } from 'zod';

/**
 * A zod schema as OpenAPI 3.1 takes it (JSON Schema 2020-12): requests as they are sent
 * (`input`), replies as they are built (`output`). The HTTP services generate their OpenAPI
 * documents with it from the schemas their code validates and builds with, so the two cannot drift.
 */
export function openApiSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

/** The OpenAPI query parameters of a query schema (a zod object): one per property, none required, each with its description. */
export function openApiQueryParameters(schema: z.ZodType): Array<Record<string, unknown>> {
  const { properties = {}, required = [] } = openApiSchema(schema, 'input') as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
  return Object.entries(properties).map(([name, { description, ...property }]) => ({
    name,
    in: 'query',
    required: required.includes(name),
    ...(description === undefined ? {} : { description }),
    schema: property,
  }));
}
