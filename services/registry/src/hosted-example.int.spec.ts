import type { AddressResolver } from '@s1c/s1-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistryUnderTest, type RegistryUnderTest } from './testing/registry.harness';

const TOKEN = 's1-made-up-token-hosted-0123456789';
/** The hosted product's own example document, verbatim but for a made-up token. */
const HOSTED_EXAMPLE = `{"api.version":"v1","source":{"schemaRef":{"type":"SentinelOne Mgmt API"},"config":{"name":"SentinelOne Mgmt API","description":"SentinelOne mgmt api source","category":"sentinelone","fields":{"_siemForward":false},"base_url":"https://usea1-partners.sentinelone.net/","api_secret":"${TOKEN}","supported_apis":["activities","agents","threats"]},"state":{"state":"Collecting"},"sourceType":"Universal"}}`;

// The console's name resolves to a public address, without depending on the machine's DNS.
const resolver: AddressResolver = () => Promise.resolve([{ address: '93.184.216.34', family: 4 }]);

let registry: RegistryUnderTest;

beforeAll(async () => {
  registry = await startRegistryUnderTest({ resolver });
});
afterAll(async () => {
  await registry?.close();
});

describe('given a running registry', () => {
  it('when the hosted product example is sent as a create, then the source is created Pending and its read-only state is stored nowhere', async () => {
    const created = await registry.send('create', HOSTED_EXAMPLE, { raw: true });

    expect(created).toMatchObject({
      ok: true,
      'api.version': 'v1',
      collectorId: 'default',
      version: 1,
      source: {
        config: {
          name: 'SentinelOne Mgmt API',
          description: 'SentinelOne mgmt api source',
          category: 'sentinelone',
          fields: { _siemForward: false },
          base_url: 'https://usea1-partners.sentinelone.net/',
          api_secret: '********',
          supported_apis: ['activities', 'agents', 'threats'],
        },
        schemaRef: { type: 'SentinelOne Mgmt API' },
        sourceType: 'Universal',
        state: { state: 'Pending' },
      },
    });
    const id = created.source.id as string;

    const events = await registry.db.collection('events').find({ streamId: `source-${id}` }).toArray();
    expect(events.map((e) => e.type)).toEqual(['SourceCreated']);
    const data = events[0]!.data as Record<string, unknown>;
    expect(Object.keys(data).sort()).toEqual(['at', 'collectorId', 'config', 'generation', 'secret', 'sourceId']);
    expect(Object.keys(data.config as object).sort()).toEqual(['baseUrl', 'category', 'description', 'fields', 'name', 'supportedApis']);
    expect(JSON.stringify(events)).not.toContain('Collecting');
    expect(JSON.stringify(events)).not.toContain(TOKEN);

    const held = (await registry.runtime.views.load(id)).state.source;
    expect(held).toMatchObject({ status: 'Pending', config: { name: 'SentinelOne Mgmt API' } });
    expect(JSON.stringify(held)).not.toContain('Collecting');
    expect(await registry.send('get', { id })).toEqual(created);
  });
});
