/**
 * docker compose and the image, checked without a Docker engine: the compose file (parsed with
 * `yaml`) runs every service with the variables its configuration schema reads, documents them,
 * publishes the ports, keeps data on volumes, has health checks and the demo profile; the
 * Dockerfile passes `dockerfile-utils`' validator; the generated configuration reference is
 * current; and the image's own scripts (health check, demo-source job) work against real servers.
 * `.ci/run` also runs Debian's `docker-compose config` and hadolint on these files.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator, type RunningSimulator } from '@s1c/s1-simulator';
import { serverUrls } from '@s1c/test-harness';
import { validate } from 'dockerfile-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startService, type ServiceProcess } from './service.process';

const ROOT = join(__dirname, '..', '..');
const requireFromRoot = createRequire(join(ROOT, 'package.json'));

interface EnvSchema {
  safeParse(value: unknown): { success: boolean };
}
type EnvShape = Record<string, EnvSchema>;

/** Every service compose runs, and its configuration schema from its built package. */
const SCHEMAS: Record<string, () => EnvShape> = {
  registry: () => requireFromRoot('@s1c/registry').registryEnvShape,
  scheduler: () => requireFromRoot('@s1c/scheduler').schedulerEnvShape,
  'fetcher-activities': () => requireFromRoot('@s1c/fetcher-kit').fetcherEnvShape,
  'fetcher-agents': () => requireFromRoot('@s1c/fetcher-kit').fetcherEnvShape,
  'fetcher-threats': () => requireFromRoot('@s1c/fetcher-kit').fetcherEnvShape,
  'fetcher-alerts': () => requireFromRoot('@s1c/fetcher-kit').fetcherEnvShape,
  'fetcher-groups': () => requireFromRoot('@s1c/fetcher-kit').fetcherEnvShape,
  enricher: () => requireFromRoot('@s1c/enricher').enricherEnvShape,
  health: () => requireFromRoot('@s1c/health').healthEnvShape,
  gateway: () => requireFromRoot('@s1c/gateway').gatewayEnvShape,
};
const APP_SERVICES = Object.keys(SCHEMAS);
const FETCHERS = ['fetcher-activities', 'fetcher-agents', 'fetcher-threats', 'fetcher-alerts', 'fetcher-groups'];
const required = (schema: EnvSchema) => !schema.safeParse(undefined).success;

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test?: string[]; disable?: boolean };
  depends_on?: Record<string, { condition: string }>;
  restart?: string;
  profiles?: string[];
  entrypoint?: string[];
  deploy?: { replicas?: number };
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const compose = parse(read('infra/docker-compose.yml'), { merge: true }) as ComposeFile;
const demoOverride = parse(read('infra/docker-compose.demo.yml'), { merge: true }) as ComposeFile;
const envExample = read('infra/.env.example');
const service = (name: string): ComposeService => {
  const found = compose.services[name];
  if (!found) throw new Error(`service ${name} is missing from infra/docker-compose.yml`);
  return found;
};
/** `${NAME}`, `${NAME:-default}` or `${NAME:?message}` → NAME and the operator. */
const interpolation = (value: string) => /^\$\{(\w+)(?:(:-|:\?)([^}]*))?\}$/.exec(value);
/** The .env variable holding a NATS user's password: `S1C_NATS_FETCHER_AGENTS_PASSWORD`. */
const natsPasswordVariable = (user: string) => `S1C_NATS_${user.toUpperCase().replace(/-/g, '_')}_PASSWORD`;
const NATS_USERS = [...APP_SERVICES, 'operator'];

describe('infra/docker-compose.yml', () => {
  it('runs every service of the system from the one image, by name', () => {
    // Any service package started as `node dist/main.js` is part of the system (the simulator
    // and the CLI are not long-running parts of it).
    const packages = readdirSync(join(ROOT, 'services')).filter((dir) => {
      const file = join(ROOT, 'services', dir, 'package.json');
      return existsSync(file) && JSON.parse(readFileSync(file, 'utf8')).scripts?.start === 'node dist/main.js';
    });
    for (const name of packages.filter((p) => !['s1-simulator', 'cli'].includes(p))) expect(APP_SERVICES).toContain(name);

    const entrypoint = read('infra/docker/entrypoint.sh');
    for (const name of APP_SERVICES) {
      const s = service(name);
      expect(s.command, name).toEqual([name]);
      expect(s.image, name).toBe('${S1C_IMAGE:-s1-collector:local}');
      expect(s.build, name).toEqual({ context: '..', dockerfile: 'infra/Dockerfile' });
      expect(s.restart, name).toBe('unless-stopped');
      expect(entrypoint, name).toMatch(new RegExp(`[ |]${name}[ )|]`));
      expect(existsSync(join(ROOT, 'services', name, 'dist', 'main.js')), `services/${name}/dist/main.js (npx turbo run build)`).toBe(true);
    }
    expect(entrypoint).toContain('main="/app/services/$service/dist/main.js"');
    expect(service('mongo').image).toBe('mongo:7');
    expect(service('nats').image).toMatch(/^nats:/);
  });

  it('gives each service exactly the variables its schema reads, every required one with a value', () => {
    for (const name of APP_SERVICES) {
      const shape = SCHEMAS[name]!();
      const environment = service(name).environment ?? {};
      expect(Object.keys(environment).sort(), name).toEqual(Object.keys(shape).sort());
      for (const [variable, value] of Object.entries(environment)) {
        const match = interpolation(String(value));
        // Interpolated from .env under its own name, or fixed by compose (container-side ports,
        // hosts, the service's NATS user); only the NATS password comes from a per-service variable.
        if (match && variable === 'NATS_PASSWORD') expect(match[1], `${name}.${variable}`).toBe(natsPasswordVariable(name));
        else if (match) expect(match[1], `${name}.${variable}`).toBe(variable);
        if (required(shape[variable]!)) {
          expect(match ? match[2] : 'literal', `${name}.${variable} is required: compose must fail without it`).not.toBe(':-');
          if (match) expect(match[2], `${name}.${variable}`).toBe(':?');
          else expect(String(value), `${name}.${variable}`).not.toBe('');
        }
      }
    }
    // Each service connects to NATS as its own user, with its own password, required.
    for (const name of APP_SERVICES) {
      expect(service(name).environment!.NATS_USER, name).toBe(name);
      expect(service(name).environment!.NATS_PASSWORD, name).toBe(`\${${natsPasswordVariable(name)}:?set ${natsPasswordVariable(name)} in infra/.env}`);
    }
    // The secret reaches only the services that read it, and compose refuses to start without it.
    const withSecret = APP_SERVICES.filter((name) => 'S1C_SECRET_KEY' in (service(name).environment ?? {}));
    expect(withSecret.sort()).toEqual(['registry', ...FETCHERS].sort());
    expect(service('registry').environment!.S1C_SECRET_KEY).toMatch(/^\$\{S1C_SECRET_KEY:\?set S1C_SECRET_KEY in infra\/\.env/);
  });

  it('documents every variable a schema or the compose files read in infra/.env.example', () => {
    const variables = new Set<string>();
    for (const name of APP_SERVICES) for (const variable of Object.keys(SCHEMAS[name]!())) variables.add(variable);
    for (const file of ['infra/docker-compose.yml', 'infra/docker-compose.demo.yml', 'infra/docker-compose.cluster.yml']) {
      for (const match of read(file).matchAll(/\$\{(\w+)/g)) variables.add(match[1]!);
    }
    const documented = new Set([...envExample.matchAll(/^#?(\w+)=/gm)].map((m) => m[1]));
    const missing = [...variables].filter((v) => !documented.has(v));
    expect(missing, 'add them to infra/scripts/config-reference.mjs and run it').toEqual([]);
    // Each with a comment just above it; the secret is the one line to fill in.
    for (const variable of variables) expect(envExample, variable).toMatch(new RegExp(`^# .*\\n#?${variable}=`, 'm'));
    // The lines to fill in: the key, every password and the API token (infra/scripts/generate-passwords.sh fills those).
    expect(envExample).toMatch(/^S1C_SECRET_KEY=$/m);
    expect(envExample.match(/^\w+=/gm)!.sort()).toEqual(
      ['S1C_SECRET_KEY=', 'MONGO_PASSWORD=', 'S1C_MONGO_ROOT_PASSWORD=', 'S1C_MONGO_MEMBER_PASSWORD=', 'S1C_GRAFANA_ADMIN_PASSWORD=', 'S1C_API_TOKEN=', ...NATS_USERS.map((u) => `${natsPasswordVariable(u)}=`)].sort(),
    );
  });

  it('docs/CONFIGURATION.md and infra/.env.example are generated from the current schemas', () => {
    const run = spawnSync(process.execPath, [join(ROOT, 'infra/scripts/config-reference.mjs'), '--check'], { encoding: 'utf8' });
    expect(run.stderr + run.stdout).toContain('are current');
    expect(run.status).toBe(0);
    const reference = read('docs/CONFIGURATION.md');
    for (const name of APP_SERVICES) for (const variable of Object.keys(SCHEMAS[name]!())) expect(reference).toContain(`| \`${variable}\` |`);
  });

  it('publishes the dashboard and the HTTP source API on loopback unless told otherwise, and keeps the data on named volumes', () => {
    expect(service('health').ports).toEqual(['${S1C_PUBLISH_ADDRESS:-127.0.0.1}:${S1C_HEALTH_PUBLISHED_PORT:-8080}:8080']);
    expect(service('health').environment!.S1C_HEALTH_PORT).toBe('8080');
    expect(service('gateway').ports).toEqual(['${S1C_PUBLISH_ADDRESS:-127.0.0.1}:${S1C_GATEWAY_PUBLISHED_PORT:-8081}:8081']);
    expect(service('gateway').environment!.S1C_GATEWAY_PORT).toBe('8081');
    for (const name of APP_SERVICES.filter((n) => !['health', 'gateway'].includes(n))) expect(service(name).ports, name).toBeUndefined();

    expect(service('mongo').volumes).toContain('mongo-data:/data/db');
    expect(service('nats').volumes).toEqual(expect.arrayContaining(['nats-data:/data', './nats/nats.conf:/etc/nats/nats.conf:ro']));
    expect(service('nats').command).toEqual(['-c', '/etc/nats/nats.conf', '-js', '-sd', '/data/jetstream']);
    expect(service('enricher').volumes).toContain('enricher-output:/data/output');
    expect(Object.keys(compose.volumes ?? {}).sort()).toEqual(['enricher-output', 'grafana-data', 'mongo-data', 'nats-data', 'prometheus-data']);
  });

  it('starts the health API and the gateway with the token generate-passwords.sh writes, and refuses them without it', () => {
    const dir = mkdtempSync(join(tmpdir(), 's1c-compose-env-'));
    try {
      const file = join(dir, '.env');
      writeFileSync(file, envExample);
      const run = spawnSync('bash', [join(ROOT, 'infra/scripts/generate-passwords.sh'), file], { encoding: 'utf8' });
      expect(run.stderr, run.stdout).toBe('');
      expect(run.stdout).toMatch(/generated \d+ password\(s\) and 1 API token\(s\)/);
      const dotEnv = Object.fromEntries([...readFileSync(file, 'utf8').matchAll(/^(\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
      expect(dotEnv.S1C_API_TOKEN).toMatch(/^[0-9a-f]{64}$/);
      // Running it again leaves every value alone.
      const before = readFileSync(file, 'utf8');
      expect(spawnSync('bash', [join(ROOT, 'infra/scripts/generate-passwords.sh'), file], { encoding: 'utf8' }).stdout).toContain('generated 0 password(s) and 0 API token(s)');
      expect(readFileSync(file, 'utf8')).toBe(before);

      /** A service's environment as compose would hand it over with `dotEnv` (`${VAR:-default}`, `${VAR:?message}`, literals). */
      const environmentOf = (name: string, dotEnvValues: Record<string, string>) =>
        Object.fromEntries(
          Object.entries(service(name).environment ?? {}).map(([variable, value]) => {
            const match = interpolation(String(value));
            if (!match) return [variable, String(value)];
            const given = dotEnvValues[match[1]!] ?? '';
            return [variable, given !== '' ? given : match[2] === ':-' ? (match[3] ?? '') : ''];
          }),
        );
      const { loadHealthConfig } = requireFromRoot('@s1c/health') as { loadHealthConfig: (env: Record<string, string>) => Record<string, unknown> };
      const { loadGatewayConfig } = requireFromRoot('@s1c/gateway') as { loadGatewayConfig: (env: Record<string, string>) => Record<string, unknown> };
      const health = loadHealthConfig(environmentOf('health', dotEnv));
      expect(health).toMatchObject({ S1C_HEALTH_HOST: '0.0.0.0', S1C_API_TOKEN: dotEnv.S1C_API_TOKEN, S1C_ALLOW_ANONYMOUS: false });
      expect(loadGatewayConfig(environmentOf('gateway', dotEnv))).toMatchObject({ S1C_GATEWAY_HOST: '0.0.0.0', S1C_API_TOKEN: dotEnv.S1C_API_TOKEN });

      // Without the token, each refuses to start and says what to set; S1C_ALLOW_ANONYMOUS=true lets them.
      const withoutToken = { ...dotEnv, S1C_API_TOKEN: '' };
      expect(() => loadHealthConfig(environmentOf('health', withoutToken))).toThrow(/S1C_HEALTH_HOST: .*S1C_API_TOKEN.*S1C_ALLOW_ANONYMOUS=true/);
      expect(() => loadGatewayConfig(environmentOf('gateway', withoutToken))).toThrow(/S1C_GATEWAY_HOST: .*S1C_API_TOKEN.*S1C_ALLOW_ANONYMOUS=true/);
      const anonymous = { ...withoutToken, S1C_ALLOW_ANONYMOUS: 'true' };
      expect(loadHealthConfig(environmentOf('health', anonymous))).toMatchObject({ S1C_ALLOW_ANONYMOUS: true });
      expect(loadGatewayConfig(environmentOf('gateway', anonymous))).toMatchObject({ S1C_ALLOW_ANONYMOUS: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives nats-server every NATS password and MongoDB its administrator and the services\' user', () => {
    const natsEnv = service('nats').environment ?? {};
    expect(Object.keys(natsEnv).sort()).toEqual(NATS_USERS.map(natsPasswordVariable).sort());
    for (const [variable, value] of Object.entries(natsEnv)) expect(value).toBe(`\${${variable}:?set ${variable} in infra/.env}`);
    // Every password the server configuration reads is one compose passes.
    expect([...read('infra/nats/nats.conf').matchAll(/password:\s*\$(\w+)/g)].map((m) => m[1]).sort()).toEqual(Object.keys(natsEnv).sort());

    const mongo = service('mongo');
    expect(mongo.environment).toMatchObject({
      MONGO_INITDB_ROOT_USERNAME: 's1c-admin',
      MONGO_INITDB_ROOT_PASSWORD: '${S1C_MONGO_ROOT_PASSWORD:?set S1C_MONGO_ROOT_PASSWORD in infra/.env}',
      MONGO_USER: '${MONGO_USER:-s1c}',
      MONGO_PASSWORD: '${MONGO_PASSWORD:?set MONGO_PASSWORD in infra/.env}',
    });
    expect(mongo.volumes).toContain('./mongo/init-s1c-user.js:/docker-entrypoint-initdb.d/10-s1c-user.js:ro');
    const init = read('infra/mongo/init-s1c-user.js');
    expect(init).toMatch(/roles: \[\{ role: 'readWrite', db: database \}\]/);
    for (const name of APP_SERVICES.filter((n) => n !== 'gateway')) {
      expect(service(name).environment!.MONGO_PASSWORD, name).toBe('${MONGO_PASSWORD:?set MONGO_PASSWORD in infra/.env}');
    }
    expect(service('demo-source').environment).toMatchObject({ NATS_USER: 'operator', NATS_PASSWORD: '${S1C_NATS_OPERATOR_PASSWORD:?set S1C_NATS_OPERATOR_PASSWORD in infra/.env}' });
  });

  it('checks every long-running service and starts each after what it needs', () => {
    for (const name of ['mongo', 'nats', ...APP_SERVICES, 's1-simulator']) {
      const test = service(name).healthcheck?.test ?? [];
      expect(test.length, `${name} has a health check`).toBeGreaterThan(1);
      if (APP_SERVICES.includes(name) || name === 's1-simulator') {
        expect(test, name).toEqual(['CMD', 'node', '/app/infra/docker/healthcheck.mjs', name]);
      }
    }
    for (const name of APP_SERVICES.filter((n) => n !== 'gateway')) {
      expect(service(name).depends_on, name).toEqual({ nats: { condition: 'service_healthy' }, mongo: { condition: 'service_healthy' } });
    }
    expect(service('gateway').depends_on?.nats).toEqual({ condition: 'service_healthy' });
  });

  it('has a demo profile with the simulator and a one-shot job registering a demo source', () => {
    const simulator = service('s1-simulator');
    expect(simulator.profiles).toEqual(['demo']);
    expect(simulator.command?.slice(0, 1)).toEqual(['s1-simulator']);
    expect(simulator.command).toEqual(expect.arrayContaining(['--live', '--host', '0.0.0.0', '--port', '8088', '--token']));
    const job = service('demo-source');
    expect(job.profiles).toEqual(['demo']);
    expect(job.command).toEqual(['demo-source']);
    expect(job.restart).toBe('no');
    expect(job.environment?.S1C_DEMO_BASE_URL).toBe('http://s1-simulator:8088/');
    expect(job.depends_on).toEqual({ registry: { condition: 'service_healthy' }, 's1-simulator': { condition: 'service_healthy' } });
    // Only those two are in the demo profile (and Prometheus and Grafana in observability); the system itself starts without them.
    const profiled = Object.entries(compose.services).filter(([, s]) => s.profiles).map(([n]) => n);
    expect(profiled.sort()).toEqual(['demo-source', 'grafana', 'prometheus', 's1-simulator', 's1c']);

    // The demo override (and only it) lets the registry and the fetchers accept the simulator's http URL.
    const insecure = Object.entries(demoOverride.services)
      .filter(([, s]) => s.environment?.S1C_ALLOW_INSECURE_BASE_URL === 'true')
      .map(([n]) => n);
    expect(insecure.sort()).toEqual(['registry', ...FETCHERS].sort());
    for (const name of APP_SERVICES) expect(service(name).environment?.S1C_ALLOW_INSECURE_BASE_URL ?? '${S1C_ALLOW_INSECURE_BASE_URL:-}').toBe('${S1C_ALLOW_INSECURE_BASE_URL:-}');
  });
});

describe('the cli profile', () => {
  it('runs s1c on the compose network as the operator, the arguments of `compose run` going to the CLI', () => {
    const cli = service('s1c');
    expect(cli.profiles).toEqual(['cli']);
    expect(cli.entrypoint).toEqual(['/bin/sh', '/app/infra/docker/entrypoint.sh', 's1c']);
    expect(cli.environment).toEqual({
      NATS_URL: '${NATS_URL:-nats://nats:4222}',
      NATS_USER: 'operator',
      NATS_PASSWORD: '${S1C_NATS_OPERATOR_PASSWORD:?set S1C_NATS_OPERATOR_PASSWORD in infra/.env}',
    });
    expect(read('infra/docker/entrypoint.sh')).toContain('main="/app/services/cli/dist/main.js"');
  });
});

describe('the observability profile (infra/prometheus, infra/grafana)', () => {
  it('scrapes every service on the metrics port compose gives it, and the health service with its token', () => {
    const config = parse(read('infra/prometheus/prometheus.yml')) as { scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }>; authorization?: { credentials_file?: string } }> };
    const targets = Object.fromEntries(config.scrape_configs.map((c) => [c.job_name, c.static_configs.flatMap((t) => t.targets)]));
    for (const name of APP_SERVICES.filter((n) => n !== 'health')) {
      expect(targets[`s1c-${name}`], name).toEqual([`${name}:${service(name).environment!.S1C_METRICS_PORT}`]);
      expect(service(name).environment!.S1C_METRICS_HOST, name).toBe('0.0.0.0');
      expect(service(name).ports ?? [], `${name} publishes no metrics port`).not.toContainEqual(expect.stringContaining(service(name).environment!.S1C_METRICS_PORT!));
    }
    expect(targets['s1c-health']).toEqual(['health:8080']);
    const health = config.scrape_configs.find((c) => c.job_name === 's1c-health')!;
    expect(health.authorization?.credentials_file).toBe('/tmp/s1c-api-token');
    expect(service('prometheus').entrypoint!.join(' ')).toContain('> /tmp/s1c-api-token');
    expect(service('prometheus').volumes).toEqual(expect.arrayContaining(['./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro', './prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro']));
    expect(service('grafana').volumes).toEqual(expect.arrayContaining(['./grafana/provisioning:/etc/grafana/provisioning:ro', './grafana/dashboards:/var/lib/grafana/dashboards:ro']));
    // Published on loopback unless told otherwise, as the API is.
    expect(service('prometheus').ports).toEqual(['${S1C_PUBLISH_ADDRESS:-127.0.0.1}:${S1C_PROMETHEUS_PUBLISHED_PORT:-9090}:9090']);
    expect(service('grafana').ports).toEqual(['${S1C_PUBLISH_ADDRESS:-127.0.0.1}:${S1C_GRAFANA_PUBLISHED_PORT:-3000}:3000']);
    expect(service('grafana').environment!.GF_AUTH_ANONYMOUS_ENABLED).toBe('false');
  });
});

describe('infra/docker-compose.cluster.yml', () => {
  const cluster = parse(read('infra/docker-compose.cluster.yml'), { merge: true }) as ComposeFile;
  const NATS_NODES = ['nats', 'nats-2', 'nats-3'];
  const MONGO_MEMBERS = ['mongo', 'mongo-2', 'mongo-3'];
  const of = (name: string): ComposeService => {
    const found = cluster.services[name];
    if (!found) throw new Error(`service ${name} is missing from infra/docker-compose.cluster.yml`);
    return found;
  };

  it('runs three NATS nodes routed to each other, each with its own name and data volume', () => {
    const routes = 'nats://nats:6222,nats://nats-2:6222,nats://nats-3:6222';
    for (const [i, name] of NATS_NODES.entries()) {
      const command = of(name).command!;
      expect(command.slice(0, 5)).toEqual(['-c', '/etc/nats/nats.conf', '-js', '-sd', '/data/jetstream']);
      expect(command).toEqual(expect.arrayContaining(['-n', `nats-${i + 1}`, '--cluster_name', 's1c', '--routes', routes]));
      // nats.conf reads every user's password from the environment, on each node.
      expect(Object.keys(of(name).environment!).sort()).toEqual(Object.keys(service('nats').environment!).sort());
    }
    expect(of('nats-2').volumes).toContain('nats-data-2:/data');
    expect(of('nats-3').volumes).toContain('nats-data-3:/data');
  });

  it('runs a three-member MongoDB replica set with a key file, initiated once by mongo-init', () => {
    for (const name of MONGO_MEMBERS) {
      const script = of(name).entrypoint!.join(' ');
      expect(script, name).toContain('mongod --replSet s1c --keyFile /tmp/member.key');
      expect(script, name).toContain('$$S1C_MONGO_MEMBER_PASSWORD');
      expect(of(name).environment!.S1C_MONGO_MEMBER_PASSWORD, name).toBe('${S1C_MONGO_MEMBER_PASSWORD:?set S1C_MONGO_MEMBER_PASSWORD in infra/.env}');
    }
    // Only the first member creates the administrator and the services' user (the base file's init script).
    expect(of('mongo').environment!.MONGO_INITDB_ROOT_USERNAME).toBe('s1c-admin');
    expect(of('mongo-2').environment!.MONGO_INITDB_ROOT_USERNAME).toBeUndefined();
    const init = of('mongo-init');
    expect(init.restart).toBe('no');
    const initScript = init.entrypoint!.join(' ');
    for (const member of MONGO_MEMBERS) expect(initScript).toContain(`host: "${member}:27017"`);
    expect(Object.keys(init.depends_on!).sort()).toEqual(MONGO_MEMBERS.sort());
  });

  it('points every service at the three NATS nodes and the replica set, with three replicas of every stream and two of every worker', () => {
    for (const name of APP_SERVICES) {
      const env = of(name).environment!;
      expect(env.NATS_URL, name).toBe('nats://nats:4222,nats://nats-2:4222,nats://nats-3:4222');
      if (name === 'gateway') continue;
      expect(env.MONGO_URL, name).toBe('mongodb://mongo:27017,mongo-2:27017,mongo-3:27017/?replicaSet=s1c');
      expect(env.S1C_STREAM_REPLICAS, name).toBe('3');
      expect(Object.keys(of(name).depends_on!).sort(), name).toEqual(['mongo-init', 'nats', 'nats-2', 'nats-3']);
      // Each variable the override sets is one the service's schema reads.
      for (const variable of Object.keys(env)) expect(Object.keys(SCHEMAS[name]!()), `${name}.${variable}`).toContain(variable);
    }
    const replicated = APP_SERVICES.filter((name) => of(name).deploy?.replicas === 2);
    expect(replicated.sort()).toEqual(['enricher', 'registry', 'scheduler', ...FETCHERS].sort());
    expect(Object.keys(cluster.volumes ?? {}).sort()).toEqual(['mongo-data-2', 'mongo-data-3', 'nats-data-2', 'nats-data-3']);
  });
});

describe('infra/Dockerfile', () => {
  const dockerfile = read('infra/Dockerfile');

  it('passes the Dockerfile validator without a diagnostic', () => {
    expect(validate(dockerfile).map((d) => `line ${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  it('builds on node:20-bookworm-slim in stages and runs production dependencies as a non-root user', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
    expect(dockerfile.match(/^FROM \$\{NODE_IMAGE\} AS \w+$/gm)).toEqual(['FROM ${NODE_IMAGE} AS manifests', 'FROM ${NODE_IMAGE} AS build', 'FROM ${NODE_IMAGE} AS runtime']);
    expect(dockerfile).toMatch(/^RUN npm ci$/m);
    expect(dockerfile).toMatch(/npm run build/);
    expect(dockerfile).toMatch(/npm prune --omit=dev/);
    const runtime = dockerfile.slice(dockerfile.indexOf('AS runtime'));
    expect(runtime).toMatch(/^USER 1000:1000$/m); // the node image's `node` user
    expect(runtime).toMatch(/^HEALTHCHECK .*\n\s+CMD \["node", "\/app\/infra\/docker\/healthcheck\.mjs"\]$/m);
    expect(runtime).toMatch(/^ENTRYPOINT \["\/bin\/sh", "\/app\/infra\/docker\/entrypoint\.sh"\]$/m);
    expect(runtime).not.toMatch(/npm (ci|install)/);
    const ignore = read('.dockerignore');
    for (const entry of ['.git', '**/node_modules', '**/dist', '.local', '**/.env']) expect(ignore.split('\n')).toContain(entry);
  });
});

describe("the image's scripts against real servers", () => {
  let registry: ServiceProcess | undefined;
  let health: ServiceProcess | undefined;
  let gateway: ServiceProcess | undefined;
  let simulator: RunningSimulator | undefined;
  let env: Record<string, string>;
  let healthPort = 0;

  const freePort = () =>
    new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });

  /** Runs the image's health check for one process, as compose does: its exit code. */
  const healthcheck = (name: string, pid: number | undefined) =>
    spawnSync(process.execPath, [join(ROOT, 'infra/docker/healthcheck.mjs'), name], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', S1C_HEALTHCHECK_PID: String(pid), S1C_HEALTHCHECK_TIMEOUT_MS: '2000' },
    });

  const eventually = async (check: () => boolean, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 250));
    }
    return true;
  };

  const runDemoSource = () =>
    new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn(process.execPath, [join(ROOT, 'infra/docker/demo-source.mjs')], {
        env: { PATH: process.env.PATH ?? '', NATS_URL: env.NATS_URL!, S1C_DEMO_BASE_URL: simulator!.url, S1C_DEMO_TOKEN: 'compose-demo-token', S1C_DEMO_WAIT_MS: '30000' },
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.once('exit', (code) => resolve({ code, output }));
    });

  beforeAll(async () => {
    const { natsUrl, mongoUrl } = serverUrls();
    healthPort = await freePort();
    env = {
      NATS_URL: natsUrl,
      MONGO_URL: mongoUrl,
      S1C_DB_NAME: `compose${randomBytes(4).toString('hex').replace(/\d/g, (d) => 'abcdefghij'[Number(d)]!)}`,
      LOG_LEVEL: 'warn',
    };
    simulator = await startSimulator({ tokens: [{ token: 'compose-demo-token', label: 'demo' }], activities: 10, agents: 2, threats: 2 });
    registry = startService('registry', { ...env, S1C_SECRET_KEY: randomBytes(32).toString('base64'), S1C_ALLOW_INSECURE_BASE_URL: 'true', S1C_DELETION_COMPLETION: 'immediate' });
    health = startService('health', { ...env, S1C_HEALTH_PORT: String(healthPort), S1C_HEALTH_HOST: '127.0.0.1' });
    gateway = startService('gateway', { NATS_URL: natsUrl, LOG_LEVEL: 'warn', S1C_GATEWAY_PORT: String(await freePort()), S1C_GATEWAY_HOST: '127.0.0.1' });
  });

  afterAll(async () => {
    await Promise.all([registry?.stop(), health?.stop(), gateway?.stop(), simulator?.close()]);
  });

  it('reports the registry, the health service and the gateway healthy once they answer', async () => {
    expect(await eventually(() => healthcheck('registry', registry!.child.pid).status === 0), registry!.output()).toBe(true);
    expect(await eventually(() => healthcheck('health', health!.child.pid).status === 0), health!.output()).toBe(true);
    expect(await eventually(() => healthcheck('gateway', gateway!.child.pid).status === 0), gateway!.output()).toBe(true);
    const notThere = healthcheck('scheduler', registry!.child.pid);
    expect(notThere.status).toBe(1);
    expect(notThere.stderr).toContain('scheduler: its process is not running in this container');
  });

  it('registers the demo source once, and again is a success that changes nothing', async () => {
    const first = await runDemoSource();
    expect(first.output).toMatch(/registered "Demo SentinelOne" \([0-9a-f-]+\)/);
    expect(first.code).toBe(0);
    const second = await runDemoSource();
    expect(second.output).toContain('is already registered');
    expect(second.code).toBe(0);
    expect(first.output + second.output).not.toContain('compose-demo-token');
  });

  it('reports a stopped registry unhealthy', async () => {
    const pid = registry!.child.pid;
    await registry!.stop();
    registry = undefined;
    expect(healthcheck('registry', pid).status).toBe(1);
  });
});
