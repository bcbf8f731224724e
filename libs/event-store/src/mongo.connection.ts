import { MongoClient, type MongoClientOptions } from 'mongodb';

/** How long closing a client may take before it is given up on (the server is gone or frozen). */
export const MONGO_CLOSE_TIMEOUT_MS = 3_000;

/**
 * Connects to MongoDB (or FerretDB) the way every service should: fail fast when no server can be
 * selected, and never wait for ever on a socket that stopped answering (a server killed or frozen
 * mid-operation), so callers get an error they can retry instead of a promise that never settles.
 * Its `close()` is bounded as well (see {@link BoundedCloseMongoClient}).
 */
export async function connectMongo(target: string | MongoTarget): Promise<MongoClient> {
  const { url, tls, auth, concerns } = typeof target === 'string' ? { url: target, tls: undefined, auth: undefined, concerns: undefined } : target;
  const options: MongoClientOptions = { serverSelectionTimeoutMS: 10_000, socketTimeoutMS: 60_000, retryWrites: true, retryReads: true };
  // On a replica set: an append counts once most members hold it, and a read never sees what a
  // failover could roll back. On one server both are what it does anyway.
  const { write, read } = concerns ?? DEFAULT_CONCERNS;
  options.writeConcern = { w: write };
  options.readConcern = { level: read };
  if (auth) options.auth = { username: auth.username, password: auth.password };
  if (tls) {
    options.tls = true;
    if (tls.caFile) options.tlsCAFile = tls.caFile;
    if (tls.certKeyFile) options.tlsCertificateKeyFile = tls.certKeyFile;
  }
  const client = new BoundedCloseMongoClient(url, options);
  await client.connect();
  return client;
}

/**
 * A client whose `close()` gives up after {@link MONGO_CLOSE_TIMEOUT_MS}: closing kills the open
 * cursors and ends the sessions on the server, and waits for answers a server that is gone or
 * frozen never sends (up to the socket timeout, a minute; a service stopping after
 * `docker compose down` must not wait for it). Past the timeout the client's connections and
 * monitors are closed without that clean-up, as a crash would leave it (the server drops the
 * cursors and sessions on its own), and `close()` rejects with a {@link MongoCloseTimeoutError}.
 */
export class BoundedCloseMongoClient extends MongoClient {
  override close(force?: boolean): Promise<void> {
    const closing = super.close(force);
    // Its outcome matters to no one once the timeout has passed.
    closing.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // The driver has no public way to close without the server's clean-up: end the topology
        // (pools, the connections waiting for answers, monitors), which the close would have done
        // last. Operations still waiting fail at once.
        const { topology } = this as unknown as { topology?: { close?: () => unknown } };
        try {
          topology?.close?.();
        } catch {
          // Closed meanwhile: nothing left to end.
        }
        reject(new MongoCloseTimeoutError(MONGO_CLOSE_TIMEOUT_MS));
      }, MONGO_CLOSE_TIMEOUT_MS);
      timer.unref();
    });
    return Promise.race([closing, timeout]).finally(() => clearTimeout(timer));
  }
}

/** {@link BoundedCloseMongoClient.close} gave up waiting for the server. */
export class MongoCloseTimeoutError extends Error {
  override readonly name = 'MongoCloseTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`MongoDB did not answer the client's close within ${timeoutMs} ms (is the server gone?); closed without its clean-up`);
  }
}

/** A server and, optionally, a user and TLS files: a CA to verify it with, a client certificate and key in one PEM. */
/** The concerns of a client made without any (tests): those of a deployment left at its defaults. */
export const DEFAULT_CONCERNS = { write: 'majority', read: 'majority' } as const;

export interface MongoTarget {
  url: string;
  /** Write concern (`majority` or a number of members) and read concern of every operation; default {@link DEFAULT_CONCERNS}. */
  concerns?: { write: 'majority' | number; read: 'majority' | 'local' };
  auth?: { username: string; password: string };
  tls?: { caFile?: string; certKeyFile?: string };
}
