import { BlockList, isIP } from 'node:net';

const blocked = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this" network
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata endpoints
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24], // documentation (TEST-NET-1)
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation (TEST-NET-2)
  ['203.0.113.0', 24], // documentation (TEST-NET-3)
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved and broadcast
] as const) {
  blocked.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 96], // unspecified, loopback, and the deprecated IPv4-compatible ::a.b.c.d
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard-only
  ['2001::', 32], // Teredo: tunnels to an IPv4 address hidden in the bits
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local
  ['fec0::', 10], // site-local (deprecated, still routed by some stacks)
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const) {
  blocked.addSubnet(network, prefix, 'ipv6');
}

/**
 * Private networks an on-premises console may live on, when its address is allow-listed
 * (`S1C_S1_PRIVATE_CONSOLES`): RFC 1918, carrier-grade NAT and IPv6 unique local addresses.
 * Loopback, link-local (cloud metadata), multicast and the rest stay refused even then.
 */
const privateNetworks = new BlockList();
for (const [network, prefix] of [
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
] as const) {
  privateNetworks.addSubnet(network, prefix, 'ipv4');
}
privateNetworks.addSubnet('fc00::', 7, 'ipv6');

const LOCAL_NAMES = /^(localhost|ip6-localhost|ip6-loopback|metadata|.*\.(localhost|local|localdomain|internal|home\.arpa))$/i;

/**
 * Whether an address (an IP literal) is loopback, private, link-local or otherwise not a public
 * internet address: SentinelOne consoles are public, so a request there is most likely an attempt
 * to reach something inside our network.
 */
export function isNonPublicAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '');
  const family = isIP(bare);
  if (family === 4) return blocked.check(bare, 'ipv4');
  if (family === 6) {
    const embedded = embeddedIpv4(bare);
    return blocked.check(bare, 'ipv6') || (embedded !== undefined && blocked.check(embedded, 'ipv4'));
  }
  return false;
}

/**
 * Whether an address is on a private network (RFC 1918, carrier-grade NAT, IPv6 unique local),
 * where an allow-listed on-premises console may be; IPv4-mapped forms count as their IPv4 address.
 */
export function isPrivateNetworkAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '');
  const family = isIP(bare);
  if (family === 4) return privateNetworks.check(bare, 'ipv4');
  if (family !== 6) return false;
  const embedded = embeddedIpv4(bare);
  return embedded !== undefined ? privateNetworks.check(embedded, 'ipv4') : privateNetworks.check(bare, 'ipv6');
}

/**
 * Whether a console may be reached at `address`: a public address always; a private network
 * address ({@link isPrivateNetworkAddress}) only for an allow-listed console (`privateConsole`).
 */
export function isAllowedConsoleAddress(address: string, privateConsole: boolean): boolean {
  return !isNonPublicAddress(address) || (privateConsole && isPrivateNetworkAddress(address));
}

/**
 * The IPv4 address an IPv6 address stands for, where the network turns one into the other:
 * IPv4-mapped `::ffff:a.b.c.d`, IPv4-translated `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d` and
 * 6to4 `2002:aabb:ccdd::`. `::ffff:7f00:1` reaches 127.0.0.1 as surely as `127.0.0.1` does.
 */
function embeddedIpv4(address: string): string | undefined {
  const g = ipv6Groups(address);
  if (!g) return undefined;
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  if (zeros(0, 5) && g[5] === 0xffff) return v4(g[6]!, g[7]!);
  if (zeros(0, 4) && g[4] === 0xffff && g[5] === 0) return v4(g[6]!, g[7]!);
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return v4(g[6]!, g[7]!);
  if (g[0] === 0x2002) return v4(g[1]!, g[2]!);
  return undefined;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a trailing dotted quad read). */
function ipv6Groups(address: string): number[] | undefined {
  let text = address.replace(/%.*$/, '');
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string | undefined) => (part ? part.split(':').map((x) => parseInt(x, 16)) : []);
  const left = parse(head);
  const right = parse(tail);
  const groups = tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  return groups.length === 8 && groups.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffff) ? groups : undefined;
}

/** Whether a host name (or IP literal) is evidently local before any DNS lookup. */
export function isNonPublicHost(host: string): boolean {
  return isNonPublicAddress(host) || LOCAL_NAMES.test(host.replace(/\.$/, ''));
}
