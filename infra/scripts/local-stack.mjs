#!/usr/bin/env node
// The whole system on this machine without Docker: nats-server and FerretDB (unless NATS_URL /
// MONGO_URL name running ones), every service, the SentinelOne simulator (live mode) and a demo
// source. Data lives in .local/ (collected records in .local/output/) so a restart keeps sources.
// Ctrl-C stops everything cleanly.
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
/** Every service of the system, each its own process. */
const SERVICES = ['registry', 'scheduler', 'fetcher-activities', 'fetcher-agents', 'fetcher-threats', 'enricher', 'health', 'gateway'];
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

function startService(name, script, args, env) {
  const child = spawn(process.execPath, [script, ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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

async function registerDemoSource(natsUrl) {
  const nc = await connect({ servers: natsUrl });
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
  for (const { child } of children.reverse()) {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    }
  }
  for (const server of servers.reverse()) await server.stop({ keepData: true });
  log('stopped');
  process.exit(code);
}

async function main() {
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));
  let natsUrl = process.env.NATS_URL;
  if (!natsUrl) {
    const nats = await startNatsServer({ port: Number(process.env.S1C_LOCAL_NATS_PORT ?? 4222), dataDir: join(local, 'nats') });
    servers.push(nats);
    natsUrl = nats.url;
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
  for (const name of SERVICES) startService(name, `services/${name}/dist/main.js`, [], env);
  await registerDemoSource(natsUrl);
  log(`dashboard: http://127.0.0.1:${HEALTH_PORT}/`);
  log(`HTTP source API: http://127.0.0.1:${process.env.S1C_GATEWAY_PORT ?? 8081}/api/v1/collectors/default/sources`);
  log(`simulator: http://127.0.0.1:${SIMULATOR_PORT}/web/api/v2.1/system/status`);
  log(`commands: nats req s1c.cmd.source.list '{}' --server ${natsUrl}`);
  log('press Ctrl-C to stop');
}

main().catch((error) => {
  process.stderr.write(`[local-stack] ${error instanceof Error ? error.message : String(error)}\n`);
  void stop(1);
});
