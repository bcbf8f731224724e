import { MongoEventStore } from '@s1c/event-store';
import type { Db } from 'mongodb';

/** What a {@link countingStore} saw: the kinds of streams read, and the event types of each append (lost races included), in order. */
export interface StoreTraffic {
  reads: string[];
  appends: string[][];
}

/** A store on `db` that notes in `traffic` each stream kind it reads (`collection`, `source`) and each append's event types. */
export function countingStore(db: Db, clock: () => Date, traffic: StoreTraffic): MongoEventStore {
  return new (class extends MongoEventStore {
    override async readStream(...args: Parameters<MongoEventStore['readStream']>) {
      traffic.reads.push(args[0].split('-')[0]!);
      return super.readStream(...args);
    }
    override async appendToStream(...args: Parameters<MongoEventStore['appendToStream']>) {
      traffic.appends.push(args[1].map((e) => e.type));
      return super.appendToStream(...args);
    }
  })(db, { clock });
}
