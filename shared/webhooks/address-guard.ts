import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/** One address a hostname resolves to, as `dns.lookup` reports it. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a hostname to every address it has; injectable so tests never touch the network. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (hostname) => {
  const found = await lookup(hostname, { all: true, verbatim: true });
  return found.map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));
};

/**
 * Cloud metadata services. Most already fall in a refused range (169.254.169.254 is link-local,
 * fd00:ec2::254 unique-local, 100.100.100.200 CGNAT); Azure's wire server is a public address
 * and must be named.
 */
const METADATA_ADDRESSES = new Set(
  [
    '169.254.169.254',
    '169.254.170.2',
    'fd00:ec2::254',
    '100.100.100.200',
    '168.63.129.16',
    '192.0.0.192',
  ].map((address) => ipaddr.parse(address).toNormalizedString()),
);

const GLOBAL_UNICAST = ipaddr.parseCIDR('2000::/3');

/** Why an address may not receive webhooks, or undefined when it is an ordinary public address. */
export function refusedAddressReason(address: string): string | undefined {
  if (!ipaddr.isValid(address)) return 'not an IP address';
  let parsed = ipaddr.parse(address);
  if (METADATA_ADDRESSES.has(parsed.toNormalizedString())) return 'a cloud metadata address';
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6;
    if (v6.zoneId) return 'a scoped (link-local) address';
    const range = v6.range();
    // IPv6 forms that carry an IPv4 address reach that IPv4 address: judge it instead. (ipaddr's
    // toIPv4Address reads the mapped form only; the others carry it in the same last four bytes.)
    if (range === 'ipv4Mapped' || range === 'rfc6145')
      parsed = new ipaddr.IPv4(v6.toByteArray().slice(12, 16));
    else if (range === 'rfc6052' && v6.parts[2] !== 0) return 'a local-use NAT64 address';
    else if (range === 'rfc6052' || range === '6to4') {
      const embedded = range === '6to4' ? v6.toByteArray().slice(2, 6) : v6.toByteArray().slice(12, 16);
      parsed = new ipaddr.IPv4(embedded);
    } else if (range !== 'unicast') return `an IPv6 ${describe(range)} address`;
    // The rest of the space is not assigned for public unicast (RFC 4291, IANA's registry): the
    // deprecated IPv4-compatible form (::a.b.c.d) among it, which a host may route to the IPv4
    // address it carries. Only global unicast, 2000::/3, is public.
    else if (!v6.match(GLOBAL_UNICAST)) return 'an IPv6 reserved address';
    if (parsed.kind() === 'ipv4' && METADATA_ADDRESSES.has(parsed.toNormalizedString()))
      return 'a cloud metadata address';
  }
  const range = (parsed as ipaddr.IPv4 | ipaddr.IPv6).range();
  // Only plain unicast is public: loopback, private, link-local, CGNAT, multicast, broadcast,
  // unspecified, documentation and other reserved ranges are all refused.
  if (range === 'unicast') return undefined;
  const name = describe(range);
  return `${/^[aeiou]/.test(name) ? 'an' : 'a'} ${name} address`;
}

function describe(range: string): string {
  const names: Record<string, string> = {
    loopback: 'loopback',
    private: 'private',
    linkLocal: 'link-local',
    uniqueLocal: 'unique-local',
    carrierGradeNat: 'carrier-grade NAT',
    multicast: 'multicast',
    unspecified: 'unspecified',
    broadcast: 'broadcast',
    reserved: 'reserved',
    teredo: 'Teredo',
  };
  return names[range] ?? `special-purpose (${range})`;
}

export class RefusedUrlError extends Error {
  override readonly name = 'RefusedUrlError';
}

/** The URL's host without IPv6 brackets, as DNS and `isIP` want it. */
export function bareHostname(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/**
 * Resolves the URL's host and checks every address it resolves to: one private answer among
 * public ones refuses the URL (a resolver may hand out either). Returns the checked addresses;
 * the sender connects to these and nothing else, so DNS cannot be asked again and rebound.
 */
export async function checkedAddresses(url: URL, resolve: Resolver): Promise<ResolvedAddress[]> {
  const host = bareHostname(url);
  const literal = isIP(host);
  let addresses: ResolvedAddress[];
  if (literal) addresses = [{ address: host, family: literal === 6 ? 6 : 4 }];
  else {
    try {
      addresses = await resolve(host);
    } catch {
      throw new RefusedUrlError(`${host} could not be resolved`);
    }
  }
  if (addresses.length === 0) throw new RefusedUrlError(`${host} could not be resolved`);
  for (const { address } of addresses) {
    const reason = refusedAddressReason(address);
    if (reason) throw new RefusedUrlError(`${host} resolves to ${address}, ${reason}`);
  }
  return addresses;
}
