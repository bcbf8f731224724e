import { type Collection, type Db, type Document } from 'mongodb';

/**
 * Wraps a Db so that the first insertMany into `events` waits until `release()`: a writer
 * that allocated its positions and then stalls, as a slow or paused process would.
 */
export function gatedDb(db: Db, collectionName = 'events'): { db: Db; blocked: Promise<void>; release(): void } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let reached!: () => void;
  const blocked = new Promise<void>((resolve) => (reached = resolve));
  let armed = true;
  const wrapCollection = (collection: Collection<Document>): Collection<Document> =>
    new Proxy(collection, {
      get(target, prop) {
        if (prop === 'insertMany' && armed) {
          return async (...args: Parameters<Collection<Document>['insertMany']>) => {
            armed = false;
            reached();
            await gate;
            return target.insertMany(...args);
          };
        }
        const value: unknown = Reflect.get(target, prop);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  const proxy = new Proxy(db, {
    get(target, prop) {
      if (prop === 'collection') {
        return (name: string) => {
          const collection = target.collection(name);
          return name === collectionName ? wrapCollection(collection) : collection;
        };
      }
      const value: unknown = Reflect.get(target, prop);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { db: proxy, blocked, release };
}
