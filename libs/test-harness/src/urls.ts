/** The URLs of the servers the global setup started (or that NATS_URL / MONGO_URL named). */
export function serverUrls(): { natsUrl: string; mongoUrl: string } {
  const natsUrl = process.env.NATS_URL;
  const mongoUrl = process.env.MONGO_URL;
  if (!natsUrl || !mongoUrl) {
    throw new Error(
      'NATS_URL / MONGO_URL are not set: add `withServers: true` to this package\'s vitestConfig so the harness starts nats-server and FerretDB',
    );
  }
  return { natsUrl, mongoUrl };
}
