import { MongoClient } from 'mongodb';
import { connect } from 'nats';
import { describe, expect, it } from 'vitest';
import { findBinary, MissingBinaryError } from './binaries';
import { startFerretDb, startNatsServer } from './servers';

describe('test harness', () => {
  it('starts a nats-server with JetStream that accepts a stream, and stops it', async () => {
    const server = await startNatsServer();
    try {
      const nc = await connect({ servers: server.url });
      const jsm = await nc.jetstreamManager();
      await jsm.streams.add({ name: 'harness', subjects: ['harness.>'] });
      const ack = await nc.jetstream().publish('harness.x', new TextEncoder().encode('1'));
      expect(ack.seq).toBe(1);
      await nc.close();
    } finally {
      await server.stop();
    }
  });

  it('starts FerretDB that stores and returns a document, and keeps it across a restart', async () => {
    const server = await startFerretDb();
    try {
      let client = await MongoClient.connect(server.url);
      await client.db('harness').collection('docs').insertOne({ _id: 'a' as never, n: 1 });
      await client.close();
      await server.restart();
      client = await MongoClient.connect(server.url);
      const doc = await client.db('harness').collection('docs').findOne({ _id: 'a' as never });
      expect(doc?.n).toBe(1);
      await client.close();
    } finally {
      await server.stop();
    }
  });

  it('starts FerretDB that keeps every acknowledged insert when it is killed (SIGKILL) and started again', async () => {
    const server = await startFerretDb();
    try {
      let client = await MongoClient.connect(server.url);
      const docs = client.db('harness').collection('killed');
      for (let i = 0; i < 100; i++) await docs.insertOne({ _id: `d${i}` as never, i });
      await server.kill();
      await client.close(true);
      await server.restart();
      client = await MongoClient.connect(server.url);
      expect(await client.db('harness').collection('killed').countDocuments()).toBe(100);
      await client.close();
    } finally {
      await server.stop();
    }
  });

  it('names the install command when a binary is missing', () => {
    expect(() => findBinary('nats-server', '/nonexistent/nats-server')).toThrow(MissingBinaryError);
    expect(() => findBinary('ferretdb', '/nonexistent/ferretdb')).toThrow(/npm run setup/);
  });
});
