#!/usr/bin/env node
// The image's health check: exit 0 when the service in this container is ready, 1 when not.
//   node /app/infra/docker/healthcheck.mjs [service]
// Without an argument it finds the service in /proc (`node /app/services/<name>/dist/main.js`).
// What it checks, per service (honestly: what each one can show from outside):
//   health, gateway   GET /healthz on their port answers 200 (they check NATS and MongoDB themselves)
//   s1-simulator      GET /web/api/v2.1/system/status answers 200
//   registry          a `list` command over NATS gets {"ok":true} (a registry replica and MongoDB answer)
//   fetcher-<api>     NATS answers, the durable consumer fetcher-<api> exists on S1C_JOBS, MongoDB pings
//   enricher          NATS answers, the durable consumer `enricher` exists on S1C_RAW, MongoDB pings
//   scheduler         NATS answers and MongoDB pings (it has no endpoint of its own)
// A wedged event loop in a service without an endpoint is not detected: the check is about its
// process being there and its dependencies being reachable from its container.
import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The image's root (/app): only processes running its services count. */
const real = (path) => {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
};
const ROOT = real(join(dirname(fileURLToPath(import.meta.url)), '..', '..'));
const escaped = ROOT.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const SERVICE_SCRIPT = new RegExp(`^${escaped}/services/([^/]+)/dist/main\\.js$`);
const DEMO_SCRIPT = new RegExp(`^${escaped}/infra/docker/demo-source\\.mjs$`);

const TIMEOUT_MS = Number(process.env.S1C_HEALTHCHECK_TIMEOUT_MS ?? 5000);

/** The service process in this container: its name, arguments and environment. */
function findService(explicit) {
  let found;
  try {
    // S1C_HEALTHCHECK_PID names the process to check (tests; hosts that share a process namespace).
    const pids = process.env.S1C_HEALTHCHECK_PID ? [process.env.S1C_HEALTHCHECK_PID] : readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
    for (const pid of pids) {
      if (Number(pid) === process.pid) continue;
      let argv;
      try {
        argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      } catch {
        continue;
      }
      const index = argv.findIndex((arg) => arg.startsWith('/') && (SERVICE_SCRIPT.test(real(arg)) || DEMO_SCRIPT.test(real(arg))));
      if (index < 0) continue;
      const script = real(argv[index]);
      const name = DEMO_SCRIPT.test(script) ? 'demo-source' : SERVICE_SCRIPT.exec(script)[1];
      if (explicit && name !== explicit && !(explicit === 's1c' && name === 'cli')) continue;
      let env = {};
      try {
        env = Object.fromEntries(
          readFileSync(`/proc/${pid}/environ`, 'utf8')
            .split('\0')
            .filter(Boolean)
            .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
        );
      } catch {
        // not ours to read: fall back to this process's environment (the container's)
      }
      found = { name, args: argv.slice(index + 1), env: { ...process.env, ...env } };
      break;
    }
  } catch {
    // no /proc: only an explicit name works
  }
  if (found) return found;
  const name = explicit ?? process.env.S1C_SERVICE;
  if (!name) throw new Error('no service process found in this container');
  if (explicit) throw new Error(`${name}: its process is not running in this container`);
  return { name, args: [], env: process.env };
}

const value = (env, name, fallback) => (env[name] === undefined || env[name] === '' ? fallback : env[name]);

function flag(args, name, fallback) {
  const index = args.indexOf(name);
  return index >= 0 && args[index + 1] !== undefined ? args[index + 1] : fallback;
}

async function httpOk(url) {
  const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}`);
}

/** A secret from NAME, or from the file NAME_FILE names. */
function secret(env, name) {
  const direct = value(env, name, undefined);
  if (direct !== undefined) return direct;
  const file = value(env, `${name}_FILE`, undefined);
  return file === undefined ? undefined : readFileSync(file, 'utf8').replace(/\r?\n$/, '');
}

/** TLS options from the service's variables (the names of libs/config), or undefined. */
function tlsOf(env, names) {
  const tls = {};
  for (const [option, name] of Object.entries(names)) if (value(env, name, undefined) !== undefined) tls[option] = env[name];
  return Object.keys(tls).length > 0 ? tls : undefined;
}

async function withNats(env, check) {
  const { connect } = await import('nats');
  // The service's own user, as the service connects (its inboxes are `_INBOX.<user>`).
  const user = value(env, 'NATS_USER', undefined);
  const tls = tlsOf(env, { caFile: 'NATS_TLS_CA_FILE', certFile: 'NATS_TLS_CERT_FILE', keyFile: 'NATS_TLS_KEY_FILE' });
  const nc = await connect({
    servers: value(env, 'NATS_URL', 'nats://127.0.0.1:4222'),
    timeout: TIMEOUT_MS,
    reconnect: false,
    name: 's1c-healthcheck',
    ...(user ? { user, pass: secret(env, 'NATS_PASSWORD'), inboxPrefix: `_INBOX.${user}` } : {}),
    ...(tls ? { tls } : {}),
  });
  try {
    await nc.flush();
    if (check) await check(nc);
  } finally {
    await nc.close();
  }
}

async function consumerExists(nc, stream, durable) {
  const jsm = await nc.jetstreamManager({ timeout: TIMEOUT_MS });
  await jsm.consumers.info(stream, durable);
}

async function mongoPing(env) {
  const { MongoClient } = await import('mongodb');
  const user = value(env, 'MONGO_USER', undefined);
  const tls = tlsOf(env, { tlsCAFile: 'MONGO_TLS_CA_FILE', tlsCertificateKeyFile: 'MONGO_TLS_CERT_KEY_FILE' });
  const client = new MongoClient(value(env, 'MONGO_URL', 'mongodb://127.0.0.1:27017/'), {
    serverSelectionTimeoutMS: TIMEOUT_MS,
    connectTimeoutMS: TIMEOUT_MS,
    ...(user ? { auth: { username: user, password: secret(env, 'MONGO_PASSWORD') } } : {}),
    ...(tls ? { tls: true, ...tls } : {}),
  });
  try {
    await client.db(value(env, 'S1C_DB_NAME', 'sonecollector')).command({ ping: 1 });
  } finally {
    await client.close();
  }
}

async function check({ name, args, env }) {
  switch (name) {
    case 'health':
      return httpOk(`http://127.0.0.1:${value(env, 'S1C_HEALTH_PORT', '8080')}/healthz`);
    case 'gateway':
      return httpOk(`http://127.0.0.1:${value(env, 'S1C_GATEWAY_PORT', '8081')}/healthz`);
    case 's1-simulator':
      return httpOk(`http://127.0.0.1:${flag(args, '--port', '8088')}/web/api/v2.1/system/status`);
    case 'registry':
      return withNats(env, async (nc) => {
        const reply = await nc.request('s1c.cmd.source.list', new TextEncoder().encode('{"limit":1}'), { timeout: TIMEOUT_MS });
        const body = JSON.parse(new TextDecoder().decode(reply.data));
        if (body.ok !== true) throw new Error(`list answered ${body.error?.code ?? 'not ok'}`);
      });
    case 'fetcher-activities':
    case 'fetcher-agents':
    case 'fetcher-threats':
    case 'fetcher-alerts':
    case 'fetcher-groups':
      await withNats(env, (nc) => consumerExists(nc, 'S1C_JOBS', name));
      return mongoPing(env);
    case 'enricher':
      await withNats(env, (nc) => consumerExists(nc, 'S1C_RAW', 'enricher'));
      return mongoPing(env);
    case 'scheduler':
      await withNats(env);
      return mongoPing(env);
    case 'demo-source':
    case 'cli':
      return undefined; // one-shot commands: running is all there is to say
    default:
      throw new Error(`unknown service ${name}`);
  }
}

try {
  const service = findService(process.argv[2]);
  await check(service);
  process.exit(0);
} catch (error) {
  // Never print credentials a URL may carry.
  const message = (error instanceof Error ? error.message : String(error)).replace(/\/\/[^@/\s]*@/g, '//***@');
  console.error(`unhealthy: ${message}`);
  process.exit(1);
}
