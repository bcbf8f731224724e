#!/usr/bin/env node
// Generates docs/CONFIGURATION.md and infra/.env.example from the services' configuration schemas
// (their built `*EnvShape`s: names, defaults, required, which services read each one) and the
// meanings below. Run after `npm run build`:
//   node infra/scripts/config-reference.mjs           write both files
//   node infra/scripts/config-reference.mjs --check   exit 1 if either is not current (the compose test runs this)
// A variable a schema reads without a meaning here is an error: describe it in MEANINGS.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(join(root, 'package.json'));

/** The services of docker compose, in order, and where each one's environment schema is built. */
export const SERVICES = [
  { name: 'registry', load: () => require('@s1c/registry').registryEnvShape },
  { name: 'scheduler', load: () => require('@s1c/scheduler').schedulerEnvShape },
  { name: 'fetcher-activities', load: () => require('@s1c/fetcher-kit').fetcherEnvShape },
  { name: 'fetcher-agents', load: () => require('@s1c/fetcher-kit').fetcherEnvShape },
  { name: 'fetcher-threats', load: () => require('@s1c/fetcher-kit').fetcherEnvShape },
  { name: 'fetcher-alerts', load: () => require('@s1c/fetcher-kit').fetcherEnvShape },
  { name: 'fetcher-groups', load: () => require('@s1c/fetcher-kit').fetcherEnvShape },
  { name: 'enricher', load: () => require('@s1c/enricher').enricherEnvShape },
  { name: 'health', load: () => require('@s1c/health').healthEnvShape },
  { name: 'gateway', load: () => require('@s1c/gateway').gatewayEnvShape },
];

/** What each variable means. Kept next to the generator so the reference and .env.example agree. */
export const MEANINGS = {
  NATS_URL: 'NATS server with JetStream (`nats://`, `tls://`, `ws://`, `wss://`), or the servers of a cluster as a comma-separated list (the client picks one and fails over).',
  S1C_STREAM_REPLICAS: 'Replicas of every stream the services declare: 1 on one server, 3 on a three-node JetStream cluster. Set the same value in every service. A change on a running deployment is applied to the existing streams (the server adds or removes copies, keeping the messages) or refused at start with the server\'s reason (e.g. more replicas than servers; a single server takes only 1).',
  NATS_USER:
    "This service's NATS user. `infra/nats/nats.conf` has one per service, each allowed only the subjects that service uses; unset means no authentication.",
  NATS_PASSWORD: 'Password of `NATS_USER`.',
  NATS_PASSWORD_FILE: 'A file holding the password of `NATS_USER` (e.g. a container secret), instead of `NATS_PASSWORD`.',
  NATS_TLS_CA_FILE: "CA certificate(s) (PEM) to verify the NATS server's certificate with; turns TLS on (as does a `tls://` URL).",
  NATS_TLS_CERT_FILE: 'Client certificate (PEM) for a NATS server that verifies clients (`tls { verify: true }`); needs `NATS_TLS_KEY_FILE`.',
  NATS_TLS_KEY_FILE: 'Private key (PEM) of `NATS_TLS_CERT_FILE`.',
  MONGO_URL:
    'MongoDB 7 (or FerretDB) holding the event log and the read models. May carry credentials and driver options (`tls=true&tlsCAFile=...`); a password in it is redacted from logs.',
  MONGO_USER: "The services' MongoDB user (authenticates against the URL's `authSource`, default `admin`); unset means no authentication.",
  MONGO_PASSWORD: 'Password of `MONGO_USER`.',
  MONGO_PASSWORD_FILE: 'A file holding the password of `MONGO_USER`, instead of `MONGO_PASSWORD`.',
  MONGO_TLS_CA_FILE: "CA certificate(s) (PEM) to verify MongoDB's certificate with; turns TLS on.",
  MONGO_TLS_CERT_KEY_FILE: 'Client certificate and its private key in one PEM file, for a MongoDB that verifies clients; turns TLS on.',
  S1C_MONGO_WRITE_CONCERN: 'Write concern of every write: `majority` (on a replica set an append counts once most members hold it; on one server it is the same as 1) or a number of members. Writes are retryable (the driver retries once after a failover).',
  S1C_MONGO_READ_CONCERN: 'Read concern of every read: `majority` (only what a majority holds, never rolled back by a failover) or `local`.',
  S1C_DB_NAME: "Database name; latin letters only (FerretDB's rule).",
  LOG_LEVEL: 'Log level: `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`.',
  S1C_SHUTDOWN_DEADLINE:
    'How long a service may take to stop after SIGTERM/SIGINT: it stops taking work, lets what is under way finish and closes its connections; past this it logs what was still pending and exits 1, and the work cut off (unacknowledged messages) is delivered again. A second signal exits at once. Keep it below the supervisor\'s grace period (compose `stop_grace_period`, 30s here; Kubernetes `terminationGracePeriodSeconds`).',
  S1C_SECRET_KEY:
    'AES-256 key(s) for the sources\' API tokens: 32 bytes as base64 or hex (`openssl rand -base64 32`), or a list `kid:key,kid:key` for rotation: the first encrypts, all decrypt. The registry encrypts, the fetchers decrypt: give them the same list.',
  S1C_ALLOW_INSECURE_BASE_URL: 'Allow `http`, ports other than 443 and loopback/private console URLs (`base_url`). For tests and the simulator only.',
  S1C_DELETION_COMPLETION: '`scheduler`: the scheduler completes a deletion once collection stopped; `immediate`: the registry completes it at once (only for a registry running without a scheduler).',
  S1C_EVENT_GAP_TIMEOUT:
    'How long a reader of `S1C_EVENTS` looks in the log for versions missing between two events of a stream (a gap) before it goes on without them, logging an error. In the fetchers and the enricher, also how long a job or a record waits for the relayed source events to reach its source version before the source is read from the log.',
  S1C_EVENT_POLL_INTERVAL: "How often the registry looks for outbox buckets other writers left 30 s past their period (a writer killed, or one that could not publish) and publishes them (a list of the database's collection names).",
  S1C_BACKFILL: 'History collected for a new source (activities and threats).',
  S1C_POLL_INTERVAL: 'Live polling interval.',
  S1C_LIVE_OVERLAP: 'How far each live window reaches back before the checkpoint (late rows, clock skew); must be below `S1C_POLL_INTERVAL`.',
  S1C_AGENT_SNAPSHOT_INTERVAL: 'How often the full agent inventory is walked.',
  S1C_JOB_STALL_TIMEOUT: 'A job with no progress for this long is abandoned and dispatched again.',
  S1C_SCHEDULER_TICK: 'How often the scheduler drives every source.',
  S1C_SCHEDULER_CONCURRENCY: 'Sources the scheduler drives at once in a tick (each action is an append to the log, and a dispatch also a publish).',
  S1C_SNAPSHOT_INTERVAL:
    'How often the scheduler and health save a snapshot of the state they hold in memory (also once caught up after a start, and at shutdown); a start reads only the events relayed after the last snapshot instead of the whole log.',
  S1C_MAX_PAGES_PER_JOB: 'Pages one job walks before it hands the rest to a continuation job.',
  S1C_S1_REQUESTS_PER_SECOND: 'Requests per second to one SentinelOne console, shared by every source and API of one fetcher process.',
  S1C_S1_TIMEOUT: 'One HTTP request to SentinelOne, from connect to the last byte.',
  S1C_RETRY_WINDOW:
    'Fetchers: how long a failure streak is retried before the source quits to Error. Enricher: how long the HTTP sink retries a batch the collector refuses (4xx) before dead-lettering it.',
  S1C_RETRY_INITIAL_DELAY: 'First retry delay of a failure streak; doubles per attempt, with jitter.',
  S1C_RETRY_MAX_DELAY: 'Longest delay between two attempts.',
  S1C_JOB_ACK_WAIT: 'How long JetStream waits for a fetch job\'s ack before redelivering it (kept alive while the job runs).',
  S1C_JOB_MAX_DELIVER: 'Deliveries of a fetch job before it is dead-lettered.',
  S1C_FETCHER_CONCURRENCY: 'Jobs one fetcher process runs at once.',
  S1C_S1_CA_FILE: 'A PEM file of certificate authorities trusted for SentinelOne consoles besides the system\'s (an on-premises console\'s private CA, or a TLS-inspecting proxy\'s); registry and fetchers. A file that cannot be read or holds no certificate stops the service at start.',
  S1C_S1_PRIVATE_CONSOLES: 'On-premises consoles allowed on private network addresses (RFC 1918, CGNAT, IPv6 ULA) or another port than 443: comma-separated `host` or `host:port`; still https only, never loopback or link-local. Set the same value on the registry and the fetchers.',
  HTTPS_PROXY: 'The HTTP proxy SentinelOne requests go through (CONNECT tunnel), `http://[user:password@]host:port`; the console\'s address is checked before the tunnel is asked for. Registry and fetchers.',
  NO_PROXY: 'Consoles reached without HTTPS_PROXY: comma-separated names (a name covers its subdomains), `.suffix`, `host:port`, IP addresses, or `*`.',
  S1C_TOKEN_EXPIRY_WARNING_DAYS: "Days before a source's API token expires that its TokenExpiring health warning is raised (the expiry is asked of SentinelOne once a day per source, with `users/api-token-details`); 0: no check.",
  S1C_ENRICHER_BATCH_SIZE: 'Raw batches (messages of up to a page of records each) handled together, at most: one claim insert, one marker.',
  S1C_ENRICHER_BATCH_BYTES: "The bytes of raw batches (their bodies) handled together, at most; a batch holds at least one. A backfill's full pages (≤ 512 KiB per raw batch) go two at a time, live polls' small raw batches up to `S1C_ENRICHER_BATCH_SIZE` at a time. It also bounds what a process holds: 2 × this × `S1C_ENRICHER_CONCURRENCY`.",
  S1C_ENRICHER_LINGER: "How long a batch short of `S1C_ENRICHER_BATCH_SIZE` raw batches (and with room under `S1C_ENRICHER_BATCH_BYTES`) waits for more before it is handled: live polls' small raw batches then go together, with fewer store writes (a claim insert and a marker per batch); under load batches are full and nothing waits. 0: no wait.",
  S1C_ENRICHER_CONCURRENCY: 'Batches one enricher process handles at once.',
  S1C_ENRICHER_MAX_ACK_PENDING: 'Server-side cap on unacknowledged raw batches, across all enricher replicas. Each replica holds at most 2 × `S1C_ENRICHER_BATCH_BYTES` × `S1C_ENRICHER_CONCURRENCY` bytes of raw batches (running or waiting); the rest of a backlog stays in `S1C_RAW`.',
  S1C_ENRICHER_ACK_WAIT: 'How long the server waits for a raw message\'s ack before redelivering it.',
  S1C_ENRICHER_MAX_DELIVER: 'Deliveries of a raw message before it is dead-lettered.',
  S1C_SOURCE_CACHE_SIZE: 'Source configurations kept in memory, one per (source, version).',
  S1C_SOURCE_REFRESH_INTERVAL: 'How often the Stopping/Deleted state of a source that the relayed events do not cover is re-read from the log, at most.',
  S1C_DELIVERED_RETENTION: 'How long the delivered set remembers a record, counted from the record\'s own day (a collection per day, dropped whole); keep it longer than S1C_BACKFILL.',
  S1C_DELIVERED_CLEANUP_INTERVAL: 'How often expired delivered-set entries are removed.',
  S1C_SINK_HTTP_URL: 'HTTP collector to deliver to (`http://` or `https://`); the HTTP sink runs only when this is set.',
  S1C_SINK_BATCH_RECORDS: 'Records per HTTP batch, at most.',
  S1C_SINK_BATCH_BYTES: 'Uncompressed bytes per HTTP batch, at most (a single larger record goes alone).',
  S1C_SINK_FLUSH_INTERVAL: 'A batch is sent at the latest this long after its first record arrived.',
  S1C_SINK_HTTP_TIMEOUT: 'Timeout of one POST to the collector.',
  S1C_SINK_HTTP_CONCURRENCY: 'POSTs in flight at once.',
  S1C_SINK_RETRY_INITIAL: 'First delay after a failed POST; doubles per attempt, with jitter.',
  S1C_SINK_RETRY_MAX: 'Longest delay between two attempts of a batch (a `Retry-After` may ask for more, up to `S1C_RETRY_WINDOW`).',
  S1C_SINK_ACK_WAIT: "How long the server waits for the sinks' acks; held messages are kept alive.",
  S1C_SINK_MAX_ACK_PENDING: 'Server-side cap on unacknowledged output messages of a sink, across its replicas; at least `S1C_SINK_BATCH_RECORDS`. The HTTP sink also stops taking messages while it holds 3 × `S1C_SINK_HTTP_CONCURRENCY` × `S1C_SINK_BATCH_BYTES` of them (plus one pull of at most 2,000), so with a slow or unreachable collector the backlog waits in `S1C_DATA`, not in memory.',
  S1C_SINK_FILE_DIR: 'Directory of the file sink (NDJSON per source and API); the file sink runs only when this is set. In compose: a path under `/data/output` (the `enricher-output` volume).',
  S1C_SINK_FILE_MAX_BYTES: 'A file-sink file is rotated once it would grow beyond this many bytes.',
  S1C_SINK_FILE_FORMAT: 'What a file-sink line holds: `record`, the output record (`id`, `sourceId`, `collectorId`, `api`, `metadata` with the SIEM fields, `fetchedAt`, and the S1 object under `event`), for a log shipper to route and map; `event`, the bare S1 object.',
  S1C_METRICS_PORT: 'Port of the service\'s Prometheus metrics, `GET /metrics` (process and Node.js metrics, and the service\'s own: S1 request durations, jobs, records, consumer backlogs, sink requests, dead letters); each service has its own default (registry 9101, scheduler 9102, fetcher-activities 9103, fetcher-agents 9104, fetcher-threats 9105, enricher 9106, gateway 9107, fetcher-alerts 9108, fetcher-groups 9109); `0`: none. The health service serves its metrics on its API port.',
  S1C_METRICS_HOST: 'Address the metrics endpoint listens on (loopback by default). The metrics carry no secret.',
  S1C_HEALTH_PORT: 'Port of the health API and dashboard (`0` picks a free one).',
  S1C_HEALTH_HOST:
    'Interface the health API listens on. Beyond loopback (anything but 127.0.0.0/8, `::1` and `localhost`; `0.0.0.0` and `::` are beyond) the service refuses to start without `S1C_API_TOKEN`, unless `S1C_ALLOW_ANONYMOUS=true`.',
  S1C_API_TOKEN:
    'When set (16+ characters), the bearer token every request to the health API and the gateway needs, except `/healthz` (and the dashboard\'s static files).',
  S1C_API_TOKENS:
    'Named bearer tokens of the gateway: `name:token[:expiry],...` (token 16-512 printable characters without `,` or `:`, expiry ISO-8601). The name is recorded as the caller of each command (see `s1c source history`); an expired token is refused.',
  S1C_API_TOKENS_FILE: 'A file of the gateway\'s named bearer tokens, one `name:token[:expiry]` per line (`#` starts a comment), read at start-up.',
  S1C_ALLOW_ANONYMOUS:
    '`true` lets the health API and the gateway listen beyond loopback without an API token, answering (and, for the gateway, taking commands from) anyone who reaches them; a warning is logged. Without it that configuration is refused at start-up (exit 2).',
  S1C_TRUSTED_GATEWAY_USERS:
    'NATS users whose `S1c-On-Behalf-Of` header (the HTTP caller, set by the gateway) the registry believes: `user` or `ACCOUNT/user`, comma-separated. Used when NATS authenticates users.',
  S1C_GATEWAY_PORT: 'Port of the HTTP source API (the gateway).',
  S1C_GATEWAY_HOST:
    'Interface the gateway listens on. Beyond loopback (anything but 127.0.0.0/8, `::1` and `localhost`; `0.0.0.0` and `::` are beyond) the gateway refuses to start without a token (`S1C_API_TOKEN`, `S1C_API_TOKENS` or `S1C_API_TOKENS_FILE`), unless `S1C_ALLOW_ANONYMOUS=true`.',
  S1C_COMMAND_TIMEOUT: "How long the gateway waits for the registry's reply to one command (then 504).",
};

/** How docker-compose.yml sets a variable when it does not simply pass `${VAR:-}` through. */
export const COMPOSE = {
  NATS_URL: { default: 'nats://nats:4222', note: 'defaults to `nats://nats:4222`, the `nats` service' },
  MONGO_URL: { default: 'mongodb://mongo:27017/', note: 'defaults to `mongodb://mongo:27017/`, the `mongo` service' },
  NATS_USER: { perService: true, note: "fixed per service: the service's own user of `infra/nats/nats.conf` (`registry`, `scheduler`, `fetcher-activities`, ..., `gateway`)" },
  NATS_PASSWORD: { perService: true, note: "per service, from `S1C_NATS_<SERVICE>_PASSWORD` (e.g. `S1C_NATS_REGISTRY_PASSWORD`), each required" },
  NATS_PASSWORD_FILE: { fixed: '', note: 'empty: compose passes each password by variable' },
  MONGO_USER: { default: 's1c', note: 'defaults to `s1c`; the `mongo` container creates it on its first start' },
  MONGO_PASSWORD: { required: true, note: "required; the `mongo` container's init script gives it to the user it creates (readWrite on `S1C_DB_NAME` only)" },
  MONGO_PASSWORD_FILE: { fixed: '', note: 'empty: compose passes the password by variable' },
  S1C_SECRET_KEY: { required: true, note: 'required; compose refuses to start without it' },
  S1C_METRICS_PORT: { perService: true, note: 'fixed per service inside the container (9101 registry ... 9107 gateway), on the compose network only, not published' },
  S1C_METRICS_HOST: { fixed: '0.0.0.0', note: 'fixed at 0.0.0.0 inside the container, so that a Prometheus on the compose network can scrape it' },
  S1C_HEALTH_PORT: { fixed: '8080', note: 'fixed at 8080 inside the container; the host port is `S1C_HEALTH_PUBLISHED_PORT`' },
  S1C_HEALTH_HOST: { fixed: '0.0.0.0', note: 'fixed at 0.0.0.0 inside the container (so a token is needed); published on `S1C_PUBLISH_ADDRESS`' },
  S1C_GATEWAY_PORT: { fixed: '8081', note: 'fixed at 8081 inside the container; the host port is `S1C_GATEWAY_PUBLISHED_PORT`' },
  S1C_GATEWAY_HOST: { fixed: '0.0.0.0', note: 'fixed at 0.0.0.0 inside the container (so a token is needed); published on `S1C_PUBLISH_ADDRESS`' },
  S1C_API_TOKEN: {
    fill: true,
    note: 'one line to fill in `infra/.env`: `infra/scripts/generate-passwords.sh` writes a random token there; the health API and the gateway (as the caller `api`) both take it. Without it (or, for the gateway, `S1C_API_TOKENS`) they refuse to start, unless `S1C_ALLOW_ANONYMOUS=true`',
  },
};

/** The users of infra/nats/nats.conf and who connects as each. */
const NATS_USERS = [
  ['registry', 'the registry'],
  ['scheduler', 'the scheduler'],
  ['fetcher-activities', 'the activities fetcher'],
  ['fetcher-agents', 'the agents fetcher'],
  ['fetcher-threats', 'the threats fetcher'],
  ['fetcher-alerts', 'the alerts fetcher'],
  ['fetcher-groups', 'the groups fetcher'],
  ['enricher', 'the enricher'],
  ['health', 'the health service'],
  ['gateway', 'the gateway'],
  ['operator', 'people with `s1c`, and the demo-source job'],
];

/** Variables only docker-compose.yml reads (interpolation), not the services. */
export const COMPOSE_ONLY = [
  { name: 'S1C_IMAGE', default: 's1-collector:local', meaning: 'Image name and tag that compose builds (and runs) for every service.' },
  {
    name: 'S1C_PUBLISH_ADDRESS',
    default: '127.0.0.1',
    meaning: 'Host address the health API and the HTTP source API are published on: loopback only by default; `0.0.0.0` for every interface, or one address of the host.',
  },
  { name: 'S1C_HEALTH_PUBLISHED_PORT', default: '8080', meaning: 'Host port of the health API and dashboard (on `S1C_PUBLISH_ADDRESS`).' },
  { name: 'S1C_GATEWAY_PUBLISHED_PORT', default: '8081', meaning: 'Host port of the HTTP source API (gateway) (on `S1C_PUBLISH_ADDRESS`).' },
  { name: 'S1C_DEMO_TOKEN', default: 'demo-token', meaning: 'Demo profile only: the API token the simulator accepts and the demo source uses.' },
  { name: 'S1C_PROMETHEUS_PUBLISHED_PORT', default: '9090', meaning: 'Observability profile only: host port of Prometheus (on `S1C_PUBLISH_ADDRESS`).' },
  { name: 'S1C_GRAFANA_PUBLISHED_PORT', default: '3000', meaning: 'Observability profile only: host port of Grafana (on `S1C_PUBLISH_ADDRESS`).' },
  { name: 'S1C_GRAFANA_ADMIN_PASSWORD', required: true, meaning: 'Password of Grafana\'s `admin` (observability profile); `generate-passwords.sh` fills it.' },
  { name: 'S1C_MONGO_ROOT_PASSWORD', required: true, meaning: "Password of MongoDB's administrator `s1c-admin` (the `mongo` container's root user; the services never get it)." },
  { name: 'S1C_MONGO_MEMBER_PASSWORD', required: true, meaning: 'infra/docker-compose.cluster.yml only: the secret the MongoDB replica-set members authenticate each other with (written into their key file); the services never get it.' },
  ...NATS_USERS.map(([user, who]) => ({
    name: `S1C_NATS_${user.toUpperCase().replace(/-/g, '_')}_PASSWORD`,
    required: true,
    meaning: `Password of the NATS user \`${user}\` (${who}); nats-server reads it too. Letters and digits, starting with a letter.`,
  })),
];

/** The raw default of a zod schema from @s1c/config (`5m` rather than 300000), or undefined. */
function rawDefault(schema) {
  const def = schema?._zod?.def;
  if (!def) return undefined;
  if (def.type === 'default') {
    const value = typeof def.defaultValue === 'function' ? def.defaultValue() : def.defaultValue;
    return String(value);
  }
  if (def.type === 'pipe') return rawDefault(def.in);
  return undefined;
}

/** Every variable: name, default, required, the services that read it, its meaning. */
export function collectVariables() {
  const byName = new Map();
  for (const service of SERVICES) {
    const shape = service.load();
    for (const [name, schema] of Object.entries(shape)) {
      const required = !schema.safeParse(undefined).success;
      const entry = byName.get(name) ?? { name, default: rawDefault(schema), required, services: [] };
      entry.services.push(service.name);
      byName.set(name, entry);
    }
  }
  return [...byName.values()];
}

/** The services as one readable list (the fetchers as `fetchers`). */
function readers(services) {
  const fetchers = ['fetcher-activities', 'fetcher-agents', 'fetcher-threats', 'fetcher-alerts', 'fetcher-groups'];
  const names = fetchers.every((f) => services.includes(f)) ? [...services.filter((s) => !fetchers.includes(s)), 'fetchers'] : services;
  const order = ['registry', 'scheduler', 'fetchers', ...fetchers, 'enricher', 'health', 'gateway'];
  return names.sort((a, b) => order.indexOf(a) - order.indexOf(b));
}

function defaultText(variable) {
  if (variable.required) return '(required)';
  return variable.default === undefined ? '(none)' : `\`${variable.default}\``;
}

export function renderMarkdown(variables) {
  const lines = [
    '# Configuration reference',
    '',
    '<!-- Generated by `node infra/scripts/config-reference.mjs` from the services\' configuration schemas; edit the',
    '     meanings there, not here. The compose test fails when this file is not current. -->',
    '',
    'Every service is configured only through environment variables, parsed once at start-up by its',
    'zod schema (`*EnvShape`). A bad or missing one stops the service (exit code 2) with one message',
    'listing every problem; values are never echoed. An empty variable counts as unset, so the',
    "service's default applies (docker compose relies on that: it passes `${VAR:-}`).",
    '',
    'Booleans are `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`); durations carry a unit',
    '(`1500ms`, `90s`, `5m`, `24h`, `7d`). "fetchers" means all five: `fetcher-activities`,',
    '`fetcher-agents`, `fetcher-threats`, `fetcher-alerts`, `fetcher-groups`.',
    '',
    '## Service variables',
    '',
    '| variable | default | read by | meaning |',
    '|---|---|---|---|',
  ];
  for (const variable of variables) {
    const compose = COMPOSE[variable.name] ? ` *In compose: ${COMPOSE[variable.name].note}.*` : '';
    lines.push(`| \`${variable.name}\` | ${defaultText(variable)} | ${readers(variable.services).join(', ')} | ${MEANINGS[variable.name]}${compose} |`);
  }
  lines.push(
    '',
    '## docker compose only',
    '',
    'Read by `infra/docker-compose.yml` itself (interpolation), not by a service. Every variable',
    'of both tables is listed, with its default, in `infra/.env.example`.',
    '',
    '| variable | default | meaning |',
    '|---|---|---|',
    ...COMPOSE_ONLY.map((v) => `| \`${v.name}\` | ${v.required ? '(required)' : `\`${v.default}\``} | ${v.meaning} |`),
    '',
    '## The local stack (`npm start`)',
    '',
    '`infra/scripts/local-stack.mjs` passes the variables above through to every service and sets',
    '`NATS_URL`, `MONGO_URL`, `S1C_SECRET_KEY` (generated once into `.local/secret.key`),',
    '`S1C_ALLOW_INSECURE_BASE_URL=true`, `S1C_HEALTH_PORT` and `S1C_SINK_FILE_DIR` (`.local/output`)',
    'itself. The health API and the gateway listen on 127.0.0.1 (their default), so they need no token. The nats-server it starts runs `infra/nats/nats.conf`, as compose does: each service gets',
    '`NATS_USER` (its name) and `NATS_PASSWORD`, generated once into `.local/nats-passwords.json`; the',
    "operator's settings for `s1c` are in `.local/s1c.env` (`set -a; . .local/s1c.env; set +a`). It also reads:",
    '',
    '| variable | default | meaning |',
    '|---|---|---|',
    '| `NATS_URL` / `MONGO_URL` | (unset) | use these servers instead of starting nats-server / FerretDB (with `NATS_URL`, the services get no NATS users of their own) |',
    '| `S1C_SECRET_KEY` | `.local/secret.key` | the key to use instead of the generated one |',
    '| `S1C_HEALTH_PORT` | `8080` | port of the dashboard |',
    '| `S1C_SIMULATOR_PORT` | `8088` | port of the simulator |',
    '| `S1C_DEMO_TOKEN` | `demo-token` | the simulator\'s token and the demo source\'s |',
    '| `S1C_LOCAL_NATS_PORT` / `S1C_LOCAL_MONGO_PORT` | `4222` / `27017` | ports of the servers it starts |',
    '| `S1C_SINK_FILE_DIR` | `.local/output` | where the enricher writes the collected records |',
    '',
    'The `s1c` command line reads `NATS_URL`, NATS credentials (`NATS_USER`/`NATS_PASSWORD`, `NATS_TOKEN`,',
    '`NATS_CREDS`) and `NATS_TLS_CA_FILE`/`NATS_TLS_CERT_FILE`/`NATS_TLS_KEY_FILE`; see its own documentation',
    '(`services/cli`).',
    '',
  );
  return lines.join('\n');
}

function wrapComment(text, width = 98) {
  const plain = text.replace(/`/g, '');
  const words = plain.split(/\s+/);
  const lines = [];
  let line = '#';
  for (const word of words) {
    if (line.length + 1 + word.length > width && line !== '#') {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}

export function renderEnvExample(variables) {
  const lines = [
    '# s1-collector: configuration for docker compose (infra/docker-compose.yml).',
    '#   cp infra/.env.example infra/.env   and set S1C_SECRET_KEY (openssl rand -base64 32) and every',
    "#   password and the API token (each on its own line below): bash infra/scripts/generate-passwords.sh infra/.env",
    '# Generated by `node infra/scripts/config-reference.mjs` from the services\' schemas, like',
    '# docs/CONFIGURATION.md. A commented line shows the default the service applies when the',
    '# variable is unset or empty; remove the `#` and change the value to set it.',
    '',
  ];
  for (const variable of variables) {
    const compose = COMPOSE[variable.name];
    lines.push(...wrapComment(`${variable.name}: ${MEANINGS[variable.name]}`));
    const facts = [`Read by: ${readers(variable.services).join(', ')}.`, `Default: ${variable.required ? 'none, required' : (variable.default ?? 'unset')}.`];
    if (compose) facts.push(`In compose: ${compose.note}.`);
    lines.push(...wrapComment(facts.join(' ')));
    if (compose?.required || compose?.fill) lines.push(`${variable.name}=`);
    else if (compose?.perService) lines.push(`#${variable.name}=`);
    else if (compose?.default) lines.push(`#${variable.name}=${compose.default}`);
    else if (compose?.fixed !== undefined) lines.push(`#${variable.name}=${compose.fixed}`);
    else lines.push(`#${variable.name}=${variable.default ?? ''}`);
    lines.push('');
  }
  lines.push('# --- read by docker-compose.yml itself', '');
  for (const variable of COMPOSE_ONLY) {
    lines.push(...wrapComment(`${variable.name}: ${variable.meaning} ${variable.required ? 'Required.' : `Default: ${variable.default}.`}`));
    lines.push(variable.required ? `${variable.name}=` : `#${variable.name}=${variable.default}`, '');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

export const OUTPUTS = {
  markdown: join(root, 'docs/CONFIGURATION.md'),
  envExample: join(root, 'infra/.env.example'),
};

function main() {
  const variables = collectVariables();
  const undocumented = variables.filter((v) => !MEANINGS[v.name]).map((v) => v.name);
  if (undocumented.length > 0) {
    console.error(`config-reference: no meaning for ${undocumented.join(', ')}: add it to MEANINGS in infra/scripts/config-reference.mjs`);
    process.exit(1);
  }
  const files = [
    [OUTPUTS.markdown, renderMarkdown(variables)],
    [OUTPUTS.envExample, renderEnvExample(variables)],
  ];
  if (process.argv.includes('--check')) {
    const stale = files.filter(([path, text]) => !existsSync(path) || readFileSync(path, 'utf8') !== text).map(([path]) => path);
    if (stale.length > 0) {
      console.error(`config-reference: not current: ${stale.join(', ')}; run node infra/scripts/config-reference.mjs`);
      process.exit(1);
    }
    console.log('config-reference: docs/CONFIGURATION.md and infra/.env.example are current');
    return;
  }
  for (const [path, text] of files) writeFileSync(path, text);
  console.log(`config-reference: wrote ${files.map(([path]) => path).join(', ')}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
