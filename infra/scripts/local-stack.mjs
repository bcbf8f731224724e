#!/usr/bin/env node
// The whole system on this machine without Docker: nats-server and FerretDB (unless NATS_URL /
// MONGO_URL name running ones), every service, the SentinelOne simulator (live mode) and a demo
// source. Data lives in .local/ (collected records in .local/output/) so a restart keeps sources.
// The nats-server it starts runs infra/nats/nats.conf, as compose does: every service connects as
// its own user, with passwords generated once into .local/nats-passwords.json, and `s1c` as the
// operator (.local/s1c.env). Ctrl-C stops everything cleanly.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(join(root, 'package.json'));
const local = join(root, '.local');
mkdirSync(local, { recursive: true });

const { startNatsServer, startFerretDb } = require('./libs/test-harness/dist/index.js');
const { connect } = require('nats');

const SIMULATOR_PORT = Number(process.env.S1C_SIMULATOR_PORT ?? 8088);
const HEALTH_PORT = Number(process.env.S1C_HEALTH_PORT ?? 8080);
/** The users of infra/nats/nats.conf: every service, and the operator (people, `s1c`). */
const NATS_USERS = ['registry', 'scheduler', 'fetcher-activities', 'fetcher-agents', 'fetcher-threats', 'fetcher-alerts', 'fetcher-groups', 'enricher', 'health', 'gateway', 'operator'];
const passwordVariable = (user) => `S1C_NATS_${user.toUpperCase().replace(/-/g, '_')}_PASSWORD`;
/** Every service of the system, each its own process. */
const SERVICES = ['registry', 'scheduler', 'fetcher-activities', 'fetcher-agents', 'fetcher-threats', 'fetcher-alerts', 'fetcher-groups', 'enricher', 'health', 'gateway'];
const DEMO_TOKEN = process.env.S1C_DEMO_TOKEN ?? 'demo-token';
const children = [];
const servers = [];
let stopping = false;

function log(message) {
  process.stdout.write(`[local-stack] ${message}\n`);
}

/** A stable key for this checkout, so sources created earlier can still be decrypted. */
function secretKey() {
  if (process.env.S1C_SECRET_KEY) return process.env.S1C_SECRET_KEY;
  const file = join(local, 'secret.key');
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

/** Each NATS user's password, generated once (a letter first: nats-server parses them as configuration). */
function natsPasswords() {
  const file = join(local, 'nats-passwords.json');
  const known = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  for (const user of NATS_USERS) known[user] ??= `p${randomBytes(24).toString('hex')}`;
  writeFileSync(file, JSON.stringify(known, null, 2), { mode: 0o600 });
  return known;
}

function startService(name, script, args, env) {
  // A process group of its own: a terminal's Ctrl-C reaches only this script, which then sends each
  // service one SIGTERM (a service takes a second signal as "exit now", see libs/runtime).
  const child = spawn(process.execPath, [script, ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const prefix = (line) => (line ? `${name.padEnd(12)}| ${line}\n` : '');
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream.on('data', (chunk) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) process.stdout.write(prefix(line));
    });
  }
  child.on('exit', (code, signal) => {
    if (!stopping) {
      log(`${name} exited (${signal ?? code}); stopping the stack`);
      void stop(1);
    }
  });
  children.push({ name, child });
  return child;
}

async function registerDemoSource(natsUrl, operator) {
  const nc = await connect({ servers: natsUrl, ...(operator ? { user: 'operator', pass: operator, inboxPrefix: '_INBOX.operator' } : {}) });
  const document = {
    'api.version': 'v1',
    source: {
      config: {
        name: 'Demo SentinelOne',
        description: 'The local simulator',
        category: 'demo/s1',
        fields: { _siemForward: true, environment: 'local' },
        base_url: `http://127.0.0.1:${SIMULATOR_PORT}/`,
        api_secret: DEMO_TOKEN,
        supported_apis: ['activities', 'agents', 'threats'],
      },
      schemaRef: { type: 'SentinelOne Mgmt API' },
      sourceType: 'Universal',
    },
  };
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      const reply = JSON.parse(new TextDecoder().decode((await nc.request('s1c.cmd.source.create', JSON.stringify(document), { timeout: 5000 })).data));
      if (reply.ok) log(`demo source registered: ${reply.source.id}`);
      else if (reply.error.code === 'DuplicateResourceName') log('demo source already registered');
      else log(`demo source not registered: ${reply.error.code}: ${reply.error.message}`);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 200)); // the registry is still starting
    }
  }
  await nc.close();
}

async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  // All at once: each stops within its S1C_SHUTDOWN_DEADLINE (8 s), even with the servers gone.
  await Promise.all(
    children.map(async ({ child }) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }),
  );
  for (const server of servers.reverse()) await server.stop({ keepData: true });
  log('stopped');
  process.exit(code);
}

async function main() {
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));
  let natsUrl = process.env.NATS_URL;
  let passwords;
  if (!natsUrl) {
    passwords = natsPasswords();
    const nats = await startNatsServer({
      port: Number(process.env.S1C_LOCAL_NATS_PORT ?? 4222),
      dataDir: join(local, 'nats'),
      configFile: join(root, 'infra', 'nats', 'nats.conf'),
      env: Object.fromEntries(NATS_USERS.map((user) => [passwordVariable(user), passwords[user]])),
    });
    servers.push(nats);
    natsUrl = nats.url;
    writeFileSync(join(local, 's1c.env'), `NATS_URL=${natsUrl}\nNATS_USER=operator\nNATS_PASSWORD=${passwords.operator}\n`, { mode: 0o600 });
  }
  let mongoUrl = process.env.MONGO_URL;
  if (!mongoUrl) {
    const ferret = await startFerretDb({ port: Number(process.env.S1C_LOCAL_MONGO_PORT ?? 27017), dataDir: join(local, 'ferretdb') });
    servers.push(ferret);
    mongoUrl = ferret.url;
  }
  log(`NATS ${natsUrl}, MongoDB-compatible store ${mongoUrl}`);
  const env = {
    NATS_URL: natsUrl,
    MONGO_URL: mongoUrl,
    S1C_SECRET_KEY: secretKey(),
    // The demo source points at the simulator on loopback over http.
    S1C_ALLOW_INSECURE_BASE_URL: 'true',
    S1C_HEALTH_PORT: String(HEALTH_PORT),
    S1C_SINK_FILE_DIR: process.env.S1C_SINK_FILE_DIR ?? join(local, 'output'),
  };
  startService('s1-simulator', 'services/s1-simulator/dist/main.js', ['--port', String(SIMULATOR_PORT), '--seed', '1', '--live', '--token', DEMO_TOKEN], {});
  // With the nats-server started here, each service connects as its own user.
  const natsUser = (name) => (passwords ? { NATS_USER: name, NATS_PASSWORD: passwords[name] } : {});
  for (const name of SERVICES) startService(name, `services/${name}/dist/main.js`, [], { ...env, ...natsUser(name) });
  await registerDemoSource(natsUrl, passwords?.operator);
  log(`dashboard: http://127.0.0.1:${HEALTH_PORT}/`);
  log(`HTTP source API: http://127.0.0.1:${process.env.S1C_GATEWAY_PORT ?? 8081}/api/v1/collectors/default/sources`);
  log(`simulator: http://127.0.0.1:${SIMULATOR_PORT}/web/api/v2.1/system/status`);
  if (passwords) log('s1c as the operator: set -a; . .local/s1c.env; set +a; npm run s1c -- source list');
  else log(`commands: npm run s1c -- source list (NATS_URL=${natsUrl})`);
  log('press Ctrl-C to stop');
}

main().catch((error) => {
  process.stderr.write(`[local-stack] ${error instanceof Error ? error.message : String(error)}\n`);
  void stop(1);
});
