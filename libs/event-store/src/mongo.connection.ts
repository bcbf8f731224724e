import { MongoClient, type MongoClientOptions } from 'mongodb';

/**
 * Connects to MongoDB (or FerretDB) the way every service should: fail fast when no server can be
 * selected, and never wait for ever on a socket that stopped answering (a server killed or frozen
 * mid-operation), so callers get an error they can retry instead of a promise that never settles.
 */
export function connectMongo(target: string | MongoTarget): Promise<MongoClient> {
  const { url, tls, auth } = typeof target === 'string' ? { url: target, tls: undefined, auth: undefined } : target;
  const options: MongoClientOptions = { serverSelectionTimeoutMS: 10_000, socketTimeoutMS: 60_000 };
  if (auth) options.auth = { username: auth.username, password: auth.password };
  if (tls) {
    options.tls = true;
    if (tls.caFile) options.tlsCAFile = tls.caFile;
    if (tls.certKeyFile) options.tlsCertificateKeyFile = tls.certKeyFile;
  }
  return MongoClient.connect(url, options);
}

/** A server and, optionally, a user and TLS files: a CA to verify it with, a client certificate and key in one PEM. */
export interface MongoTarget {
  url: string;
  auth?: { username: string; password: string };
  tls?: { caFile?: string; certKeyFile?: string };
}
