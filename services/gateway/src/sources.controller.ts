import { Controller, Delete, Get, Param, Post, Put, Query, Req, Res } from '@nestjs/common';
import type { SourceDocument, SourceReply } from '@s1c/contracts';
import { registerSecret } from '@s1c/logger';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from './api.errors';
import { etagOf, ifNoneMatchMatches, parseIfMatch } from './etag';
import { sendJson } from './http.reply';
import { readJsonBody } from './json-body';
import { listQuerySchema, noQuerySchema, parsePathIds, parseQuery } from './query.schemas';
import { RegistryClient } from './registry.client';
import { originOf } from './request.context';

type JsonObject = Record<string, unknown>;

const SOURCES = 'api/v1/collectors/:collectorId/sources';
const SOURCE = `${SOURCES}/:sourceId`;

/**
 * The hosted product's Collector Management API for sources, each route one NATS command. The
 * collector in the path scopes every operation: it is sent with each command, so a source of
 * another collector is not found.
 */
@Controller()
export class SourcesController {
  constructor(private readonly registry: RegistryClient) {}

  @Get(SOURCES)
  async list(@Param('collectorId') collectorId: string, @Query() query: unknown, @Req() req: IncomingMessage, @Res() res: ServerResponse) {
    parsePathIds(collectorId);
    const { state, name, limit, cursor } = parseQuery(listQuerySchema, query);
    const reply = await this.registry.send('list', { collectorId, limit, ...(state ? { state } : {}), ...(name ? { name } : {}), ...(cursor ? { cursor } : {}) }, originOf(req));
    sendJson(res, 200, { sources: reply.sources, nextCursor: reply.nextCursor });
  }

  @Post(SOURCES)
  async create(@Param('collectorId') collectorId: string, @Query() query: unknown, @Req() req: IncomingMessage, @Res() res: ServerResponse) {
    parsePathIds(collectorId);
    parseQuery(noQuerySchema, query);
    const body = await objectBody(req, res);
    rememberSecret(body);
    if (body.collectorId !== undefined && body.collectorId !== collectorId) {
      throw mismatch('collectorId', 'must be the collector in the path (or be left out)');
    }
    const reply = await this.registry.send('create', { ...body, collectorId }, originOf(req));
    const document = documentOf(reply);
    sendJson(res, 201, document, { ETag: etagOf(document.version), Location: sourcePath(document) });
  }

  @Get(SOURCE)
  async get(
    @Param('collectorId') collectorId: string,
    @Param('sourceId') sourceId: string,
    @Query() query: unknown,
    @Req() req: IncomingMessage,
    @Res() res: ServerResponse,
  ) {
    parsePathIds(collectorId, sourceId);
    parseQuery(noQuerySchema, query);
    const document = documentOf(await this.registry.send('get', { id: sourceId, collectorId }, originOf(req)));
    // Clients may keep the document, but must revalidate it (If-None-Match) before using it.
    const headers = { ETag: etagOf(document.version), 'Cache-Control': 'private, no-cache' };
    if (ifNoneMatchMatches(header(req, 'if-none-match'), document.version)) sendJson(res, 304, undefined, headers);
    else sendJson(res, 200, document, headers);
  }

  /**
   * Replaces the source's configuration. `If-Match` is required (428 without it): its version goes
   * to the registry with the update, which refuses it atomically when the source has changed since
   * (412). `If-Match: *` overwrites whatever version is stored.
   */
  @Put(SOURCE)
  async update(
    @Param('collectorId') collectorId: string,
    @Param('sourceId') sourceId: string,
    @Query() query: unknown,
    @Req() req: IncomingMessage,
    @Res() res: ServerResponse,
  ) {
    parsePathIds(collectorId, sourceId);
    parseQuery(noQuerySchema, query);
    const ifMatch = parseIfMatch(header(req, 'if-match'));
    if (ifMatch.kind === 'absent') {
      throw new ApiError(
        'PreconditionRequired',
        'an update needs If-Match with the ETag of the source as last read (GET it first), so that it cannot overwrite a change made since; If-Match: * overwrites whatever is stored',
        [],
        { meta: { header: 'If-Match' } },
      );
    }
    if (ifMatch.kind === 'malformed') throw mismatch('If-Match', 'must be * or quoted ETags such as "7"');
    const body = await objectBody(req, res);
    rememberSecret(body);
    if (body.id !== undefined && body.id !== sourceId) throw mismatch('id', 'must be the source in the path (or be left out)');
    const origin = originOf(req);
    // Scoping: the update command refuses another collector as ImmutableField; here it is a 404.
    const current = documentOf(await this.registry.send('get', { id: sourceId, collectorId }, origin));
    if (body.collectorId !== undefined && body.collectorId !== collectorId) {
      throw new ApiError('ImmutableField', `a source cannot move to another collector (it is in "${collectorId}")`, [{ path: 'collectorId', message: 'cannot change' }]);
    }
    let version: number | undefined;
    if (ifMatch.kind === 'any') {
      version = typeof body.version === 'number' ? body.version : undefined;
    } else {
      if (body.version !== undefined && !ifMatch.versions.includes(body.version as number)) {
        throw mismatch('version', 'must match If-Match (or be left out)');
      }
      if (ifMatch.versions.length === 0) throw stale(current.version);
      // The registry compares this version with the stream's as it appends: a change that lands
      // between the read above and the update still makes it fail.
      version = ifMatch.versions.includes(current.version) ? current.version : Math.max(...ifMatch.versions);
    }
    const command: JsonObject = { ...body, id: sourceId, collectorId };
    if (version === undefined) delete command.version;
    else command.version = version;
    const document = documentOf(await this.registry.send('update', command, origin));
    sendJson(res, 200, document, { ETag: etagOf(document.version) });
  }

  /** Asynchronous: the source goes to Stopping at once and to Deleted when collection has stopped (202). */
  @Delete(SOURCE)
  async delete(
    @Param('collectorId') collectorId: string,
    @Param('sourceId') sourceId: string,
    @Query() query: unknown,
    @Req() req: IncomingMessage,
    @Res() res: ServerResponse,
  ) {
    parsePathIds(collectorId, sourceId);
    parseQuery(noQuerySchema, query);
    const version = await this.optionalVersion(req, collectorId, sourceId);
    const document = documentOf(await this.registry.send('delete', { id: sourceId, collectorId, ...version }, originOf(req)));
    sendJson(res, 202, document, { ETag: etagOf(document.version) });
  }

  @Post(`${SOURCE}/action/restart`)
  async restart(
    @Param('collectorId') collectorId: string,
    @Param('sourceId') sourceId: string,
    @Query() query: unknown,
    @Req() req: IncomingMessage,
    @Res() res: ServerResponse,
  ) {
    parsePathIds(collectorId, sourceId);
    parseQuery(noQuerySchema, query);
    await emptyBody(req, res);
    const version = await this.optionalVersion(req, collectorId, sourceId);
    const document = documentOf(await this.registry.send('restart', { id: sourceId, collectorId, ...version }, originOf(req)));
    sendJson(res, 200, document, { ETag: etagOf(document.version) });
  }

  /** Ours: checks the stored URL and token against SentinelOne, without changing anything. */
  @Post(`${SOURCE}/action/test`)
  async test(
    @Param('collectorId') collectorId: string,
    @Param('sourceId') sourceId: string,
    @Query() query: unknown,
    @Req() req: IncomingMessage,
    @Res() res: ServerResponse,
  ) {
    parsePathIds(collectorId, sourceId);
    parseQuery(noQuerySchema, query);
    await emptyBody(req, res);
    const { ok: _ok, ...result } = await this.registry.send('test', { id: sourceId, collectorId }, originOf(req));
    sendJson(res, 200, result);
  }

  /** Ours: collects `[from, to)` of one API again; asynchronous, so 202. Body: `{"api", "from", "to"}`. */
  @Post(`${SOURCE}/action/replay`)
  async replay(
    @Param('collectorId') collectorId: string,
    @Param('sourceId') sourceId: string,
    @Query() query: unknown,
    @Req() req: IncomingMessage,
    @Res() res: ServerResponse,
  ) {
    parsePathIds(collectorId, sourceId);
    parseQuery(noQuerySchema, query);
    const body = await objectBody(req, res);
    if (body.id !== undefined && body.id !== sourceId) throw mismatch('id', 'must be the source in the path (or be left out)');
    if (body.collectorId !== undefined && body.collectorId !== collectorId) throw mismatch('collectorId', 'must be the collector in the path (or be left out)');
    const { ok: _ok, ...result } = await this.registry.send('replay', { ...body, id: sourceId, collectorId }, originOf(req));
    sendJson(res, 202, result);
  }

  /**
   * `If-Match` is optional on delete and restart; when given, it is enforced like on update
   * (a stale ETag is 412, nothing changes).
   */
  private async optionalVersion(req: IncomingMessage, collectorId: string, sourceId: string): Promise<{ version?: number }> {
    const ifMatch = parseIfMatch(header(req, 'if-match'));
    if (ifMatch.kind === 'absent' || ifMatch.kind === 'any') return {};
    if (ifMatch.kind === 'malformed') throw mismatch('If-Match', 'must be * or quoted ETags such as "7"');
    const current = documentOf(await this.registry.send('get', { id: sourceId, collectorId }, originOf(req)));
    if (ifMatch.versions.length === 0) throw stale(current.version);
    return { version: ifMatch.versions.includes(current.version) ? current.version : Math.max(...ifMatch.versions) };
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

async function objectBody(req: IncomingMessage, res: ServerResponse): Promise<JsonObject> {
  const body = await readJsonBody(req, res, { required: true });
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError('ValidationError', 'the request body must be a JSON object', [{ path: '', message: 'must be a JSON object' }]);
  }
  return body as JsonObject;
}

/** Actions take no parameters: no body, or an empty JSON object. */
async function emptyBody(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJsonBody(req, res, { required: false });
  if (body === undefined) return;
  if (typeof body !== 'object' || body === null || Array.isArray(body) || Object.keys(body).length > 0) {
    throw new ApiError('ValidationError', 'this action takes no parameters: send no body or {}', [{ path: '', message: 'must be empty' }]);
  }
}

function documentOf(reply: SourceReply): SourceDocument {
  const { ok: _ok, ...document } = reply;
  return document;
}

function sourcePath(document: SourceDocument): string {
  return `/api/v1/collectors/${encodeURIComponent(document.collectorId)}/sources/${encodeURIComponent(document.source.id)}`;
}

function mismatch(path: string, message: string): ApiError {
  return new ApiError('ValidationError', `invalid request: ${path} ${message}`, [{ path, message }]);
}

function stale(currentVersion: number): ApiError {
  return new ApiError('VersionConflict', 'If-Match names no current ETag of this source: it has changed since it was read; GET it again', [], {
    meta: { currentETag: etagOf(currentVersion) },
  });
}

/** The token of a create or update body is redacted from any log line the gateway writes. */
function rememberSecret(body: JsonObject): void {
  const secret = (body.source as { config?: { api_secret?: unknown } } | undefined)?.config?.api_secret;
  if (typeof secret === 'string') registerSecret(secret);
}
