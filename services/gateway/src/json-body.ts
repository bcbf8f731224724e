import { CommandError, MAX_COMMAND_BYTES, parseJsonPayload } from '@s1c/contracts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from './api.errors';

/** The largest request body the gateway reads: the registry's own command limit. */
export const MAX_BODY_BYTES = MAX_COMMAND_BYTES;

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json$/i;

/**
 * Reads a request's JSON body: a JSON content type (415 otherwise), at most
 * {@link MAX_BODY_BYTES} (413, decided from `Content-Length` before reading when it is given,
 * and while reading when it is not), valid UTF-8 JSON (400 `InvalidJson`). Returns undefined
 * for an empty body when it is optional.
 */
export async function readJsonBody(req: IncomingMessage, res: ServerResponse, options: { required: boolean }): Promise<unknown> {
  const declared = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (!chunked && (declared === undefined || declared === '0')) {
    if (options.required) throw new ApiError('ValidationError', 'a JSON request body is required', [{ path: '', message: 'is required' }]);
    return undefined;
  }
  if (declared !== undefined && Number(declared) > MAX_BODY_BYTES) throw tooLarge(res, Number(declared));
  checkContentType(req);
  const bytes = await readBounded(req, res);
  if (bytes.byteLength === 0) {
    if (options.required) throw new ApiError('ValidationError', 'a JSON request body is required', [{ path: '', message: 'is required' }]);
    return undefined;
  }
  try {
    return parseJsonPayload(bytes);
  } catch (error) {
    if (error instanceof CommandError) throw new ApiError(error.code, error.message, error.details ?? []);
    throw error;
  }
}

function checkContentType(req: IncomingMessage): void {
  const type = req.headers['content-type'];
  const [mediaType = '', ...parameters] = (type ?? '').split(';').map((part) => part.trim());
  const charset = parameters.map((p) => /^charset\s*=\s*"?([^"]*)"?$/i.exec(p)?.[1]).find((c) => c !== undefined);
  const encoding = req.headers['content-encoding'];
  if (!JSON_TYPE.test(mediaType) || (charset !== undefined && !/^utf-?8$/i.test(charset))) {
    throw new ApiError('UnsupportedMediaType', `the request body must be JSON: send Content-Type: application/json (got ${type ? JSON.stringify(type.slice(0, 100)) : 'none'})`, [], {
      headers: { 'Accept-Post': 'application/json' },
    });
  }
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
    throw new ApiError('UnsupportedMediaType', 'compressed request bodies are not accepted (Content-Encoding)');
  }
}

function readBounded(req: IncomingMessage, res: ServerResponse): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (error?: unknown) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > MAX_BODY_BYTES) {
        req.pause();
        done(tooLarge(res, undefined));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => done();
    const onError = (error: unknown) => done(error);
    const onAborted = () => done(new Error('the client aborted the request'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

function tooLarge(res: ServerResponse, declared: number | undefined): ApiError {
  // The rest of the body is never read: closing the connection after the answer is cheaper than
  // draining it, and keeps the socket from carrying it into the next request.
  res.setHeader('Connection', 'close');
  const size = declared === undefined ? 'larger than the limit' : `${declared} bytes, over the limit`;
  return new ApiError('PayloadTooLarge', `the request body is ${size} of ${MAX_BODY_BYTES} bytes (256 KiB)`, [], {
    meta: { limitBytes: MAX_BODY_BYTES },
  });
}
