import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { isAllowedConsoleAddress, isNonPublicAddress } from '@s1c/contracts';

/** Resolves a host name to all its addresses (the shape of `dns.promises.lookup(host, {all: true})`). */
export type AddressResolver = (hostname: string) => Promise<readonly LookupAddress[]>;

/** The system resolver (getaddrinfo, so /etc/hosts applies as it does for everything else). */
export const systemResolver: AddressResolver = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) => (error ? reject(error) : resolve(addresses)));
  });

/** Error code set on the lookup error when an address of a host is non-public. */
export const ADDRESS_NOT_ALLOWED = 'S1C_ADDRESS_NOT_ALLOWED';

/** The lookup error for a refused host; `addresses` lists what it resolved to. */
export class AddressNotAllowedError extends Error {
  readonly code = ADDRESS_NOT_ALLOWED;
  constructor(
    readonly hostname: string,
    readonly addresses: readonly string[],
  ) {
    super(`${hostname} resolves to ${addresses.join(', ')}, which is not a public address`);
  }
}

/**
 * A `lookup` for `http.request` that resolves the host and hands the socket only addresses that
 * passed the check. Checking here, rather than resolving once beforehand, is what defeats DNS
 * rebinding: the address vetted is the address connected to. Every address of the answer is
 * checked, and one non-public address refuses the whole name with {@link AddressNotAllowedError}:
 * a console's DNS never mixes public and private addresses, a rebinding attacker's does.
 * `onResolved` is told each time a name resolved (to tell a typo from a DNS outage later).
 */
export function guardedLookup(options: {
  allowInsecure: boolean;
  /** An allow-listed on-premises console (S1C_S1_PRIVATE_CONSOLES): private network addresses are allowed too. */
  privateConsole?: boolean;
  resolver?: AddressResolver;
  onResolved?: (hostname: string) => void;
}): LookupFunction {
  const resolver = options.resolver ?? systemResolver;
  return (hostname: string, lookupOptions: LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
    resolver(hostname).then(
      (all) => {
        options.onResolved?.(hostname);
        const refused = options.allowInsecure ? [] : all.filter((a) => !isAllowedConsoleAddress(a.address, options.privateConsole === true));
        if (refused.length > 0) {
          callback(new AddressNotAllowedError(hostname, refused.map((a) => a.address)), '');
          return;
        }
        const wanted = lookupOptions.family === 4 || lookupOptions.family === 6 ? all.filter((a) => a.family === lookupOptions.family) : [...all];
        if (wanted.length === 0) {
          const error: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
          error.code = 'ENOTFOUND';
          callback(error, '');
          return;
        }
        if (lookupOptions.all) callback(null, wanted);
        else callback(null, wanted[0]!.address, wanted[0]!.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, ''),
    );
  };
}

/**
 * The non-public addresses a host name resolves to right now: none for an IP literal (the static
 * policy judges those), or when the name does not resolve within `timeoutMs` (a DNS outage must not
 * block registering a source). For a clear refusal when a source is registered or tested; never a
 * substitute for {@link guardedLookup}, since the answer may change before the connection is made.
 */
export async function nonPublicAddressesOf(hostname: string, options: { resolver?: AddressResolver; timeoutMs?: number } = {}): Promise<string[]> {
  const bare = hostname.replace(/^\[|\]$/g, '');
  if (isIP(bare) !== 0) return [];
  const resolver = options.resolver ?? systemResolver;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<readonly LookupAddress[]>((resolve) => {
    timer = setTimeout(() => resolve([]), options.timeoutMs ?? 2_000);
  });
  try {
    const addresses = await Promise.race([resolver(bare), timeout]);
    return addresses.filter((a) => isNonPublicAddress(a.address)).map((a) => a.address);
  } catch {
    return [];
  } finally {
    clearTimeout(timer);
  }
}
