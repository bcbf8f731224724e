#!/usr/bin/env node
// The compose `demo` profile's one-shot job: registers a source that points at the simulator, over
// NATS, as an operator would (`s1c.cmd.source.create`). It waits for the registry, and treats an
// already registered demo source as success, so `docker compose --profile demo up` can run again.
// Environment: NATS_URL, NATS_USER / NATS_PASSWORD (an OPERATORS user), S1C_DEMO_BASE_URL (default http://s1-simulator:8088/), S1C_DEMO_TOKEN
// (default demo-token), S1C_DEMO_SOURCE_NAME (default "Demo SentinelOne"), S1C_DEMO_COLLECTOR_ID.
import { connect } from 'nats';

const env = (name, fallback) => (process.env[name] ? process.env[name] : fallback);
const natsUrl = env('NATS_URL', 'nats://127.0.0.1:4222');
const natsUser = env('NATS_USER', undefined);
// infra/nats/nats.conf lets each operator subscribe to its own inboxes only.
const credentials = natsUser ? { user: natsUser, pass: env('NATS_PASSWORD', undefined), inboxPrefix: `_INBOX.${natsUser}` } : {};
const baseUrl = env('S1C_DEMO_BASE_URL', 'http://s1-simulator:8088/');
const collectorId = env('S1C_DEMO_COLLECTOR_ID', 'default');
const WAIT_MS = Number(env('S1C_DEMO_WAIT_MS', '120000'));

const document = {
  'api.version': 'v1',
  collectorId,
  source: {
    config: {
      name: env('S1C_DEMO_SOURCE_NAME', 'Demo SentinelOne'),
      description: 'The SentinelOne simulator of the compose demo profile',
      category: 'demo/s1',
      fields: { _siemForward: true, environment: 'compose-demo' },
      base_url: baseUrl,
      api_secret: env('S1C_DEMO_TOKEN', 'demo-token'),
      supported_apis: ['activities', 'agents', 'threats'],
    },
    schemaRef: { type: 'SentinelOne Mgmt API' },
    sourceType: 'Universal',
  },
};

const log = (message) => console.log(`[demo-source] ${message}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const deadline = Date.now() + WAIT_MS;
  let nc;
  while (!nc) {
    try {
      nc = await connect({ servers: natsUrl, name: 's1c-demo-source', ...credentials });
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(1000);
    }
  }
  try {
    for (;;) {
      let reply;
      try {
        const message = await nc.request('s1c.cmd.source.create', new TextEncoder().encode(JSON.stringify(document)), { timeout: 5000 });
        reply = JSON.parse(new TextDecoder().decode(message.data));
      } catch (error) {
        // no registry answering yet (503 no responders, or a timeout)
        if (Date.now() > deadline) throw new Error(`the registry did not answer within ${WAIT_MS} ms: ${error.message}`);
        await sleep(1000);
        continue;
      }
      if (reply.ok) {
        log(`registered "${reply.source.config.name}" (${reply.source.id}) for ${baseUrl}; watch it on the dashboard`);
        return 0;
      }
      if (reply.error.code === 'DuplicateResourceName') {
        log(`"${document.source.config.name}" is already registered in collector ${collectorId}`);
        return 0;
      }
      if (reply.error.code === 'Unavailable' && Date.now() < deadline) {
        await sleep(1000);
        continue;
      }
      const details = (reply.error.details ?? []).map((d) => `${d.path}: ${d.message}`).join('; ');
      log(`not registered: ${reply.error.code}: ${reply.error.message}${details ? ` (${details})` : ''}`);
      if (details.includes('base_url')) {
        log('the simulator is plain http on a private address: the registry and the fetchers need S1C_ALLOW_INSECURE_BASE_URL=true, which infra/docker-compose.demo.yml sets');
      }
      return 1;
    }
  } finally {
    await nc.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    log(error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);
