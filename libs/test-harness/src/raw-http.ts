import { connect } from 'node:net';

/** A response read off the socket: status, headers (lower-case names, last one wins) and body. */
export interface RawHttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly text: string;
}

/**
 * Sends one HTTP/1.1 request written byte for byte on a socket. `fetch` and `http.request`
 * normalise `..` and percent-encodings and never send a header twice: attack tests need both.
 */
export function rawHttpRequest(
  baseUrl: string,
  request: { method?: string; path: string; headers?: ReadonlyArray<readonly [string, string]>; body?: string },
): Promise<RawHttpResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname.replace(/^\[|\]$/g, ''), () => {
      const lines = [`${request.method ?? 'GET'} ${request.path} HTTP/1.1`, `Host: ${url.host}`, ...(request.headers ?? []).map(([k, v]) => `${k}: ${v}`)];
      if (request.body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(request.body)}`);
      lines.push('Connection: close');
      // Not end(): a server may close a half-closed connection before it answers.
      socket.write(`${lines.join('\r\n')}\r\n\r\n${request.body ?? ''}`);
    });
    const chunks: Buffer[] = [];
    socket.setTimeout(30_000, () => socket.destroy(new Error(`no answer to ${request.path} within 30 s`)));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => resolve(parseRawResponse(Buffer.concat(chunks))));
  });
}

function parseRawResponse(bytes: Buffer): RawHttpResponse {
  const split = bytes.indexOf('\r\n\r\n');
  if (split < 0) throw new Error(`not an HTTP response: ${JSON.stringify(bytes.subarray(0, 200).toString('latin1'))}`);
  const [statusLine, ...headerLines] = bytes.subarray(0, split).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = bytes.subarray(split + 4);
  if (headers['transfer-encoding'] === 'chunked') {
    const parts: Buffer[] = [];
    for (let at = 0; ; ) {
      const eol = body.indexOf('\r\n', at);
      const size = parseInt(body.subarray(at, eol).toString('latin1'), 16);
      if (!size) break;
      parts.push(body.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  }
  return { status: Number(statusLine!.split(' ')[1]), headers, text: body.toString('utf8') };
}
