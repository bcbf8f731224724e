import { MongoClient } from 'mongodb';

/**
 * Connects to MongoDB (or FerretDB) the way every service should: fail fast when no server can be
 * selected, and never wait for ever on a socket that stopped answering (a server killed or frozen
 * mid-operation), so callers get an error they can retry instead of a promise that never settles.
 */
export function connectMongo(url: string): Promise<MongoClient> {
  return MongoClient.connect(url, { serverSelectionTimeoutMS: 10_000, socketTimeoutMS: 60_000 });
}
