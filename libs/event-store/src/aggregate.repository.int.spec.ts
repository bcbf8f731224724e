import { serverUrls, uniqueDbName } from '@s1c/test-harness';
import { MongoClient, type Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decider } from '@s1c/domain';
import { AggregateRepository } from './aggregate.repository';
import { ConcurrencyError } from './event-store.errors';
import { MongoEventStore } from './mongo.event-store';

type CounterEvent = { type: 'Incremented'; data: { by: number } };
type CounterCommand = { type: 'Increment'; by: number } | { type: 'Double' } | { type: 'Noop' };
const counter: Decider<number, CounterCommand, CounterEvent> = {
  decide: (command, state) =>
    command.type === 'Increment' ? [{ type: 'Incremented', data: { by: command.by } }] : command.type === 'Double' ? [{ type: 'Incremented', data: { by: state } }] : [],
  evolve: (state, event) => state + event.data.by,
  initialState: () => 0,
};

let client: MongoClient;
let db: Db;
let repository: AggregateRepository<number, CounterCommand, CounterEvent>;

beforeAll(async () => {
  client = await MongoClient.connect(serverUrls().mongoUrl);
  db = client.db(uniqueDbName('aggregates'));
  const store = new MongoEventStore(db, { outboxGraceMs: 300 });
  await store.ensureIndexes();
  repository = new AggregateRepository(store, counter, (e) => e.type === 'Incremented');
});
afterAll(async () => client?.close());

describe('AggregateRepository', () => {
  it('folds, decides and appends, returning the new state and version', async () => {
    const first = await repository.execute('counter-a', () => ({ type: 'Increment', by: 2 }), { metadata: { correlationId: 'c1' } });
    expect(first).toMatchObject({ state: 2, version: 1 });
    expect(first.position).toBeGreaterThan(0);
    const second = await repository.execute('counter-a', () => ({ type: 'Increment', by: 3 }));
    expect(second).toMatchObject({ state: 5, version: 2 });
    expect(await repository.load('counter-a')).toMatchObject({ state: 5, version: 2, position: second.position });
  });

  it('decides several commands in turn, each on the state the previous one led to, and appends their events at once', async () => {
    let appends = 0;
    const store = new (class extends MongoEventStore {
      override async appendToStream(...args: Parameters<MongoEventStore['appendToStream']>) {
        appends += 1;
        return super.appendToStream(...args);
      }
    })(db);
    const counting = new AggregateRepository(store, counter, (e) => e.type === 'Incremented');
    const result = await counting.execute('counter-m', () => [{ type: 'Increment', by: 3 }, { type: 'Noop' }, { type: 'Double' }]);
    expect(result).toMatchObject({ state: 6, version: 2 });
    expect(result.events.map((e) => e.data)).toEqual([{ by: 3 }, { by: 3 }]);
    expect(appends).toBe(1);
    expect(await counting.load('counter-m')).toMatchObject({ state: 6, version: 2 });
  });

  it('appends nothing when the decider decides nothing', async () => {
    const result = await repository.execute('counter-b', () => ({ type: 'Noop' }));
    expect(result).toEqual({ state: 0, version: 0, events: [], position: 0 });
  });

  it('when writers race without an expected version, every command lands once', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, () => repository.execute('counter-c', () => ({ type: 'Increment', by: 1 }), { maxAttempts: 20 })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(6);
    expect(await repository.load('counter-c')).toMatchObject({ state: 6, version: 6 });
  });

  it('given the aggregate it had, it reads only the newer events (others\' too) and folds them onto it', async () => {
    // A store that counts the events it reads (the real one underneath).
    let read = 0;
    const store = new (class extends MongoEventStore {
      override async readStream(...args: Parameters<MongoEventStore['readStream']>) {
        const events = await super.readStream(...args);
        read += events.length;
        return events;
      }
    })(db);
    const counting = new AggregateRepository(store, counter, (e) => e.type === 'Incremented');
    for (let i = 0; i < 5; i++) await counting.execute('counter-e', () => ({ type: 'Increment', by: 1 }));
    const mine = await counting.execute('counter-e', () => ({ type: 'Increment', by: 1 }));
    await repository.execute('counter-e', () => ({ type: 'Increment', by: 10 })); // another writer
    read = 0;
    let seen: number | undefined;
    const next = await counting.execute(
      'counter-e',
      (state) => {
        seen = state;
        return { type: 'Increment', by: 100 };
      },
      { from: mine },
    );
    expect(seen).toBe(16);
    expect(next).toMatchObject({ state: 116, version: 8 });
    expect(read).toBe(1);
    expect(await repository.load('counter-e')).toMatchObject({ state: 116, version: 8 });
  });

  it('given the current aggregate, it decides on it and appends without reading the log', async () => {
    let read = 0;
    const store = new (class extends MongoEventStore {
      override async readStream(...args: Parameters<MongoEventStore['readStream']>) {
        read++;
        return super.readStream(...args);
      }
      override async streamVersion(streamId: string) {
        read++;
        return super.streamVersion(streamId);
      }
    })(db);
    const counting = new AggregateRepository(store, counter, (e) => e.type === 'Incremented');
    let current = await counting.execute('counter-f', () => ({ type: 'Increment', by: 1 }), { from: { state: 0, version: 0 } });
    for (let i = 0; i < 4; i++) current = await counting.execute('counter-f', () => ({ type: 'Increment', by: 1 }), { from: current });
    expect(current).toMatchObject({ state: 5, version: 5 });
    expect(read).toBe(0);
    const positions = (await store.readStream('counter-f')).map((e) => e.position);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    expect(new Set(positions).size).toBe(5);
  });

  it('when the caller names a version that is not current, it refuses at once', async () => {
    await repository.execute('counter-d', () => ({ type: 'Increment', by: 1 }));
    await expect(repository.execute('counter-d', () => ({ type: 'Increment', by: 1 }), { expectedVersion: 0 })).rejects.toBeInstanceOf(
      ConcurrencyError,
    );
    expect(await repository.load('counter-d')).toMatchObject({ state: 1, version: 1 });
  });
});
