/**
 * Which client a request came from, for the refusal limit per address (caller-limits.ts) and the
 * aggregated refusal lines. By default the socket's peer, and X-Forwarded-For is ignored: any client can
 * write that header. With `listen.trusted-proxies` (CIDRs), a request whose peer is one of them is
 * counted for the address its proxies say: X-Forwarded-For read from the right, skipping trusted proxies,
 * the first address that is not one (the nearest untrusted hop: a client cannot forge what its own proxy
 * appends). Written on Node's BlockList, which matches IPv4 and IPv6 subnets; no library needed.
 */
import { BlockList, isIP } from 'node:net';

/** A CIDR the config accepts ("10.0.0.0/8", "2001:db8::/32", or one address): its parts, or why not. */
export function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | string {
  const [address = '', prefixText, ...rest] = text.trim().split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return 'is not an IPv4 or IPv6 address or CIDR';
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
  if (!(prefix >= 0 && prefix <= max)) return `has a prefix that is not from 0 to ${max}`;
  // Trusting every address lets any client name its own address, which undoes the refusal limit.
  if (prefix < (version === 4 ? 8 : 16))
    return `trusts too wide a range (at least /${version === 4 ? 8 : 16}: name your proxies' own subnet)`;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** The client address of a request: from the peer, or through trusted proxies. */
export type ClientAddress = (peer: string | undefined, forwardedFor: string | undefined) => string;

export function clientAddress(trustedProxies: readonly string[]): ClientAddress {
  const trusted = new BlockList();
  for (const text of trustedProxies) {
    const cidr = parseCidr(text);
    if (typeof cidr !== 'string') trusted.addSubnet(cidr.address, cidr.prefix, cidr.family);
  }
  const isTrusted = (address: string): boolean => {
    const version = isIP(address);
    return version !== 0 && trusted.check(address, version === 4 ? 'ipv4' : 'ipv6');
  };
  return (peer, forwardedFor) => {
    const from = unmapped(peer ?? 'unknown');
    if (trustedProxies.length === 0 || forwardedFor === undefined || !isTrusted(from)) return from;
    const hops = forwardedFor.split(',').map((hop) => unmapped(hop.trim()));
    for (let index = hops.length - 1; index >= 0; index--) {
      const hop = hops[index] as string;
      // A hop that is not an address was not written by a proxy we trust: stop at the last good one.
      if (isIP(hop) === 0) return index === hops.length - 1 ? from : (hops[index + 1] as string);
      if (!isTrusted(hop)) return hop;
    }
    return hops[0] as string;
  };
}

/** "::ffff:10.0.0.1" (an IPv4 peer of a dual-stack listener) as "10.0.0.1". */
function unmapped(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}
