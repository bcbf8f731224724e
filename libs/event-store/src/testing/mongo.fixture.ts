import { serverUrls, uniqueDbName } from '@s1c/test-harness';
import { MongoClient, type Db } from 'mongodb';

/** A connected client for the harness's FerretDB and a fresh database per call of `db()`. */
export interface MongoFixture {
  db(): Db;
  close(): Promise<void>;
}

export async function connectMongo(): Promise<MongoFixture> {
  const client = await MongoClient.connect(serverUrls().mongoUrl);
  return {
    db: () => client.db(uniqueDbName('es')),
    close: () => client.close(),
  };
}

/** A clock the test moves by hand. */
export class ManualClock {
  private nowMs = Date.parse('2025-01-01T00:00:00Z');

  readonly now = (): Date => new Date(this.nowMs);

  advance(ms: number): void {
    this.nowMs += ms;
  }
}
