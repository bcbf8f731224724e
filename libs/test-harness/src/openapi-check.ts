import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

interface OpenApiDocument {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }> }>>;
  components: { schemas: Record<string, object> };
}

/** A layer of Express's router, as far as the route table goes. */
interface RouteLayer {
  route?: { path: string; methods: Record<string, boolean> };
}

/** `GET /a/{id}` for every route a Nest application on Express serves. */
export function servedRoutes(app: { getHttpAdapter(): { getInstance(): unknown } }): string[] {
  const express = app.getHttpAdapter().getInstance() as { router?: { stack: RouteLayer[] }; _router?: { stack: RouteLayer[] } };
  return (express.router ?? express._router)!.stack
    .filter((layer) => layer.route)
    .flatMap((layer) => Object.keys(layer.route!.methods).map((method) => `${method.toUpperCase()} ${layer.route!.path.replace(/:(\w+)/g, '{$1}')}`))
    .sort();
}

/** `GET /a/{id}` for every operation an OpenAPI document describes. */
export function documentedRoutes(document: OpenApiDocument): string[] {
  return Object.entries(document.paths)
    .flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`))
    .sort();
}

/**
 * Checks replies against an OpenAPI 3.1 document with ajv (JSON Schema 2020-12): `check` answers
 * why a body does not match the JSON schema documented for its path, method and status, or
 * undefined when it does. A status without a documented JSON body is a mismatch too.
 */
export function openApiReplyChecker(document: OpenApiDocument) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  const schemaFor = (path: string, method: string, status: number): object | undefined => {
    const schema = document.paths[path]?.[method]?.responses[String(status)]?.content?.['application/json']?.schema;
    if (!schema?.$ref) return schema;
    return document.components.schemas[schema.$ref.split('/').at(-1)!];
  };
  return {
    schemaFor,
    check(path: string, method: string, status: number, body: unknown): string | undefined {
      const schema = schemaFor(path, method, status);
      if (!schema) return `${method.toUpperCase()} ${path} documents no JSON reply for ${status}`;
      const validate = ajv.compile(schema);
      return validate(body) ? undefined : `${method.toUpperCase()} ${path} ${status}: ${JSON.stringify(validate.errors)}`;
    },
    valid(schema: object, body: unknown): boolean {
      return ajv.compile(schema)(body) === true;
    },
  };
}
