import { serverUrls, startFreezableProxy, uniqueDbName, type FreezableProxy } from '@s1c/test-harness';
import { afterEach, describe, expect, it } from 'vitest';
import { connectMongo, MONGO_CLOSE_TIMEOUT_MS, MongoCloseTimeoutError } from './mongo.connection';

/** A stop must not wait for a MongoDB that does not answer (issue 13). */
describe('connectMongo', () => {
  const proxies: FreezableProxy[] = [];
  afterEach(async () => {
    for (const proxy of proxies.splice(0)) await proxy.close();
  });

  async function throughProxy() {
    const server = new URL(serverUrls().mongoUrl);
    const proxy = await startFreezableProxy(Number(server.port), server.hostname);
    proxies.push(proxy);
    const client = await connectMongo(`mongodb://127.0.0.1:${proxy.port}/`);
    // A cursor left open, which close() kills on the server (and on MongoDB, the pooled sessions it ends there).
    const collection = client.db(uniqueDbName('close')).collection('probe');
    await collection.insertMany([{ n: 1 }, { n: 2 }, { n: 3 }]);
    const cursor = collection.find({}, { batchSize: 1 });
    await cursor.next();
    return { client, proxy };
  }

  it('closes normally while the server answers', async () => {
    const { client } = await throughProxy();
    const started = Date.now();
    await client.close();
    expect(Date.now() - started).toBeLessThan(MONGO_CLOSE_TIMEOUT_MS);
    await expect(client.db('x').collection('y').findOne({})).rejects.toThrow();
  });

  it('gives up closing after the timeout when the server stopped answering, and is closed for its callers', async () => {
    const { client, proxy } = await throughProxy();
    proxy.freeze();
    const started = Date.now();
    const error = await client.close().catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(MongoCloseTimeoutError);
    expect(elapsed).toBeGreaterThanOrEqual(MONGO_CLOSE_TIMEOUT_MS - 100);
    expect(elapsed).toBeLessThan(MONGO_CLOSE_TIMEOUT_MS + 3_000);
    // Nothing of the client waits on the frozen server any more.
    const failed = Date.now();
    await expect(client.db('x').collection('y').findOne({})).rejects.toThrow();
    expect(Date.now() - failed).toBeLessThan(2_000);
  });
});

describe('connectMongo: write and read concerns', () => {
  async function concernsOf(concerns?: { write: 'majority' | number; read: 'majority' | 'local' }) {
    const client = await connectMongo({ url: serverUrls().mongoUrl, ...(concerns ? { concerns } : {}) });
    try {
      // Every collection inherits the client's concerns, and the server takes them.
      const collection = client.db(uniqueDbName('concerns')).collection<{ _id: string }>('probe');
      await collection.insertOne({ _id: 'a' });
      expect(await collection.findOne({ _id: 'a' })).toEqual({ _id: 'a' });
      return { write: collection.writeConcern?.w, read: collection.readConcern?.level, retryWrites: client.options.retryWrites };
    } finally {
      await client.close();
    }
  }

  it('writes with majority and reads with majority by default (on one server: what it does anyway), with retryable writes', async () => {
    expect(await concernsOf()).toEqual({ write: 'majority', read: 'majority', retryWrites: true });
  });

  it('uses the configured concerns', async () => {
    expect(await concernsOf({ write: 1, read: 'local' })).toEqual({ write: 1, read: 'local', retryWrites: true });
  });
});
