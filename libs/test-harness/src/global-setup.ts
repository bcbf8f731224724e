import { startFerretDb, startNatsServer, type RunningServer } from './servers';

/**
 * Vitest global setup: real nats-server (JetStream) and FerretDB for the whole run, or the
 * servers named by NATS_URL / MONGO_URL. It exports their URLs as NATS_URL and MONGO_URL,
 * which the test workers (forked after this runs) inherit; tests read them with `serverUrls()`.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const started: RunningServer[] = [];
  try {
    process.env.NATS_URL ??= (await track(startNatsServer(), started)).url;
    process.env.MONGO_URL ??= (await track(startFerretDb(), started)).url;
  } catch (error) {
    await Promise.all(started.map((s) => s.stop()));
    throw error;
  }
  return async () => {
    await Promise.all(started.map((s) => s.stop()));
  };
}

async function track(server: Promise<RunningServer>, into: RunningServer[]): Promise<RunningServer> {
  const running = await server;
  into.push(running);
  return running;
}
