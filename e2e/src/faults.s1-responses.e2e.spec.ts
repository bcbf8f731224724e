import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAULT_SERVICES, eventually, SystemUnderTest, type Json } from './system.harness';

/**
 * Issue 8, bad input at the edges (SentinelOne): 20 malformed answers to the activities list, each
 * from a small node:http server standing in for a console (the simulator cannot produce most of
 * them). The token picks the fault. Every source must get a ThirdPartyGeneric health event, no
 * process may die, and nothing of theirs may reach S1C_RAW or S1C_DATA.
 */

const record = (id: string, createdAt = '2026-11-27T10:00:00.000000Z') => ({ id, createdAt, updatedAt: createdAt, activityType: 27, primaryDescription: 'x' });
const page = (data: unknown, pagination: unknown = { nextCursor: null, totalItems: 1 }) => JSON.stringify({ data, pagination });

type Answer = (req: IncomingMessage, res: ServerResponse) => void;
const json =
  (body: string | Buffer, type = 'application/json') =>
  (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  };

const FAULTS: Record<string, Answer> = {
  'data-an-object': json(page({ id: '1' })),
  'data-a-string': json(page('nothing to see')),
  'no-envelope': json(JSON.stringify([record('1')])),
  'no-data-key': json(JSON.stringify({ pagination: { nextCursor: null, totalItems: 1 } })),
  'pagination-a-string': json(page([record('1')], 'next')),
  'cursor-a-number': json(page([record('1')], { nextCursor: 42, totalItems: 1 })),
  'records-are-numbers': json(page([1, 2, 3])),
  'record-without-id': json(page([{ createdAt: '2026-11-27T10:00:00.000000Z', activityType: 27 }])),
  'record-without-timestamp': json(page([{ id: '7', activityType: 27 }])),
  'record-id-an-object': json(page([{ ...record('x'), id: { $oid: '1' } }])),
  'timestamp-not-a-date': json(page([record('8', 'yesterday')])),
  'invalid-utf8': json(Buffer.concat([Buffer.from(page([record('9')]).replace('"x"', '"@@"').split('@@')[0]!), Buffer.from([0xff, 0xfe]), Buffer.from(page([record('9')]).replace('"x"', '"@@"').split('@@')[1]!)])),
  'html-content-type': json(page([record('10')]), 'text/html'),
  'html-error-page': json('<html><body>Service temporarily unavailable</body></html>', 'text/html'),
  'json-type-html-body': json('<!DOCTYPE html><html><body>login</body></html>'),
  truncated: (_req, res) => {
    const body = page([record('11'), record('12')]);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body.slice(0, body.length / 2));
    res.socket?.destroy();
  },
  'empty-body': json(''),
  'json-null': json('null'),
  'connection-reset': (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.write('{"data":[');
    setTimeout(() => res.socket?.destroy(), 10);
  },
  'huge-body': (_req, res) => {
    // 80 MiB, beyond the client's 64 MiB cap, streamed until the client gives up.
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    let sent = 0;
    res.write('{"data":[');
    const more = () => {
      while (sent < 80 && !res.destroyed) {
        sent++;
        if (!res.write(chunk)) return void res.once('drain', more);
      }
      if (!res.destroyed) res.end('],"pagination":{"nextCursor":null}}');
    };
    res.on('error', () => undefined);
    more();
  },
};

let consoleServer: Server;
let consoleUrl: string;
let system: SystemUnderTest;
const sources = new Map<string, string>();

beforeAll(async () => {
  consoleServer = createServer((req, res) => {
    const token = /^ApiToken (.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const fault = token.replace(/^s1fault-/, '');
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/web/api/v2.1/system/info' && FAULTS[fault]) return json(JSON.stringify({ data: { build: 'fake', release: '23.4' } }))(req, res);
    if (path === '/web/api/v2.1/activities' && FAULTS[fault]) return FAULTS[fault]!(req, res);
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ errors: [{ code: 4040010, title: 'Resource not found' }] }));
  });
  await new Promise<void>((resolve) => consoleServer.listen(0, '127.0.0.1', resolve));
  consoleUrl = `http://127.0.0.1:${(consoleServer.address() as AddressInfo).port}`;
  system = await SystemUnderTest.start(
    {
      S1C_POLL_INTERVAL: '1h',
      S1C_LIVE_OVERLAP: '1m',
      S1C_SCHEDULER_TICK: '250ms',
      S1C_RETRY_WINDOW: '10m',
      S1C_RETRY_INITIAL_DELAY: '5s',
      S1C_RETRY_MAX_DELAY: '30s',
      S1C_EVENT_POLL_INTERVAL: '250ms',
      S1C_EVENT_GAP_TIMEOUT: '500ms',
      S1C_HEALTH_PORT: '0',
      S1C_HEALTH_HOST: '127.0.0.1',
    },
    { services: FAULT_SERVICES },
  );
}, 120_000);

afterAll(async () => {
  await system?.close();
  consoleServer?.closeAllConnections();
  await new Promise((resolve) => consoleServer?.close(resolve));
});

describe('malformed SentinelOne responses', () => {
  it('has 20 of them', () => {
    expect(Object.keys(FAULTS)).toHaveLength(20);
  });

  it('each raises a ThirdPartyGeneric health event on its source', async () => {
    for (const fault of Object.keys(FAULTS)) {
      const reply = await system.command('create', {
        'api.version': 'v1',
        source: {
          config: { name: `Bad console ${fault}`, base_url: consoleUrl, api_secret: `s1fault-${fault}`, supported_apis: ['activities'] },
          schemaRef: { type: 'SentinelOne Mgmt API' },
          sourceType: 'Universal',
        },
      });
      expect(reply.ok, JSON.stringify(reply)).toBe(true);
      sources.set(fault, reply.source.id as string);
    }
    const found = new Map<string, Json>();
    await eventually(
      'a health event on every source',
      async () => {
        for (const [fault, id] of sources) {
          if (found.has(fault)) continue;
          const raised = (await system.stream(`collection-${id}-activities`)).find((e) => e.type === 'HealthEventRaised');
          if (raised) found.set(fault, raised.data as Json);
        }
        return found.size === sources.size ? true : undefined;
      },
      120_000,
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}; none for ${[...sources.keys()].filter((f) => !found.has(f)).join(', ')}`);
    });
    console.log(`faults.s1-responses: ${[...found].map(([fault, e]) => `${fault} → ${e.eventName}: ${String(e.details?.description ?? e.description ?? '').slice(0, 140)}`).join('\n  ')}`);
    for (const [fault, event] of found) expect(event.eventName, fault).toBe('ThirdPartyGenericError');
  }, 180_000);

  it('the health service lists them, open, with the source', async () => {
    for (const [fault, id] of sources) {
      const items = await eventually(`${fault} in the health API`, async () => {
        const url = [...system.outputOf('health').matchAll(/health: dashboard at (http:\/\/\S+?)\/?\s/g)].at(-1)![1];
        const response = await fetch(`${url}/api/v1/health-events?source=${id}`);
        const body = (await response.json()) as Json;
        return body.items?.length > 0 ? (body.items as Json[]) : undefined;
      });
      expect(items[0], fault).toMatchObject({ errorType: 'ThirdPartyGeneric', resolvedAt: null, resourceIdentity: { id } });
    }
  }, 60_000);

  it('publishes nothing of theirs to S1C_RAW or S1C_DATA', async () => {
    const jsm = await system.nc.jetstreamManager();
    for (const [fault, id] of sources) {
      for (const [stream, subject] of [
        ['S1C_RAW', `s1c.raw.activities.${id}`],
        ['S1C_DATA', `s1c.data.activities.${id}`],
      ] as const) {
        const info = await jsm.streams.info(stream, { subjects_filter: subject }).catch(() => undefined);
        expect(info?.state.subjects?.[subject] ?? 0, `${fault} in ${stream}`).toBe(0);
      }
    }
  });

  it('no service crashed', () => {
    expect(system.unexpectedExits()).toEqual([]);
    expect(system.alive().sort()).toEqual([...system.instances()].sort());
  });
});
