import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import { guardedLookup, type AddressResolver } from './guarded.lookup';

const resolverOf =
  (addresses: LookupAddress[]): AddressResolver =>
  () =>
    Promise.resolve(addresses);

function run(lookup: ReturnType<typeof guardedLookup>, all: boolean): Promise<{ error: NodeJS.ErrnoException | null; address: unknown }> {
  return new Promise((resolve) => {
    lookup('console.example.com', { all }, (error, address) => resolve({ error, address }));
  });
}

describe('guardedLookup', () => {
  it('passes public addresses through', async () => {
    const lookup = guardedLookup({ allowInsecure: false, resolver: resolverOf([{ address: '93.184.216.34', family: 4 }]) });
    expect(await run(lookup, false)).toEqual({ error: null, address: '93.184.216.34' });
    expect((await run(lookup, true)).address).toEqual([{ address: '93.184.216.34', family: 4 }]);
  });

  it.each(['127.0.0.1', '10.1.2.3', '169.254.169.254', '192.168.1.1', '::1', 'fe80::1', '::ffff:127.0.0.1'])('refuses %s', async (address) => {
    const lookup = guardedLookup({ allowInsecure: false, resolver: resolverOf([{ address, family: address.includes(':') ? 6 : 4 }]) });
    const { error } = await run(lookup, true);
    expect(error?.code).toBe('S1C_ADDRESS_NOT_ALLOWED');
  });

  it('refuses the name when any of its addresses is non-public, whatever the order', async () => {
    for (const addresses of [
      [{ address: '93.184.216.34', family: 4 }, { address: '127.0.0.1', family: 4 }],
      [{ address: '10.0.0.1', family: 4 }, { address: '93.184.216.34', family: 4 }],
      [{ address: '93.184.216.34', family: 4 }, { address: 'fe80::1', family: 6 }],
    ]) {
      const lookup = guardedLookup({ allowInsecure: false, resolver: resolverOf(addresses) });
      const { error } = await run(lookup, true);
      expect(error?.code).toBe('S1C_ADDRESS_NOT_ALLOWED');
      expect((await run(lookup, false)).error?.code).toBe('S1C_ADDRESS_NOT_ALLOWED');
    }
  });

  it('allows anything when insecure', async () => {
    const lookup = guardedLookup({ allowInsecure: true, resolver: resolverOf([{ address: '127.0.0.1', family: 4 }]) });
    expect((await run(lookup, false)).address).toBe('127.0.0.1');
  });

  it('passes resolution errors on', async () => {
    const lookup = guardedLookup({
      allowInsecure: false,
      resolver: () => Promise.reject(Object.assign(new Error('getaddrinfo ENOTFOUND x'), { code: 'ENOTFOUND' })),
    });
    expect((await run(lookup, false)).error?.code).toBe('ENOTFOUND');
  });
});
