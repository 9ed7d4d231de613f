// listen.trusted-proxies: X-Forwarded-For names the client only when the peer is a trusted proxy, read
// from the right past trusted hops; without the setting the header is ignored. Too wide a range, or a
// value that is not a CIDR, is refused at load with the setting's path and an example.
import { expect, test } from 'vitest';
import { clientAddress, parseCidr } from '../../src/policy/client-address.ts';
import { ConfigError, parseConfig } from '../../src/policy/config.ts';

const MINIMAL = `oidc: { audience: https://broker.example.org }
rules: [{ name: ci, match: { repository_owner_id: 1 }, ceilings: { usd: 1, diem: 1, max-expiry: 1h, live-keys: 5 } }]
`;

test('without trusted proxies the peer is the client, whatever X-Forwarded-For says', () => {
  const address = clientAddress([]);
  expect(address('10.0.0.5', '203.0.113.9')).toBe('10.0.0.5');
  expect(address('::ffff:10.0.0.5', undefined)).toBe('10.0.0.5');
  expect(address(undefined, '203.0.113.9')).toBe('unknown');
});

test('behind a trusted proxy the client is the nearest untrusted hop; a peer that is not trusted is still the client', () => {
  const address = clientAddress(['10.0.0.0/24', '2001:db8::/32']);
  expect(address('10.0.0.5', '203.0.113.9')).toBe('203.0.113.9');
  // A client that writes its own header gets its forged hop ignored: the proxy appended the real one.
  expect(address('10.0.0.5', '198.51.100.1, 203.0.113.9')).toBe('203.0.113.9');
  expect(address('10.0.0.5', '203.0.113.9, 10.0.0.7')).toBe('203.0.113.9');
  expect(address('2001:db8::1', '2001:db8::2, 2001:db8::3')).toBe('2001:db8::2');
  expect(address('::ffff:10.0.0.5', '::ffff:203.0.113.9')).toBe('203.0.113.9');
  expect(address('10.0.0.5', undefined)).toBe('10.0.0.5');
  expect(address('192.0.2.1', '203.0.113.9')).toBe('192.0.2.1');
  // Garbage from the proxy's side: the peer; garbage further left: the last good hop.
  expect(address('10.0.0.5', 'not-an-address')).toBe('10.0.0.5');
  expect(address('10.0.0.5', 'junk, 10.0.0.8, 203.0.113.9')).toBe('203.0.113.9');
  expect(address('10.0.0.5', 'junk, 10.0.0.8')).toBe('10.0.0.8');
});

test('CIDRs are judged: an address, a prefix within the family, never a range that trusts everyone', () => {
  expect(parseCidr('10.0.0.0/8')).toEqual({ address: '10.0.0.0', prefix: 8, family: 'ipv4' });
  expect(parseCidr('192.0.2.7')).toEqual({ address: '192.0.2.7', prefix: 32, family: 'ipv4' });
  expect(parseCidr('2001:db8::/32')).toEqual({ address: '2001:db8::', prefix: 32, family: 'ipv6' });
  expect(parseCidr('0.0.0.0/0')).toMatch(/too wide/);
  expect(parseCidr('::/0')).toMatch(/too wide/);
  expect(parseCidr('10.0.0.0/33')).toMatch(/prefix that is not from 0 to 32/);
  expect(parseCidr('10.0.0.0/x')).toMatch(/prefix/);
  expect(parseCidr('proxy.internal')).toMatch(/not an IPv4 or IPv6/);
  expect(parseCidr('10.0.0.0/8/1')).toMatch(/not an IPv4 or IPv6/);
});

test('listen.trusted-proxies is read into CIDRs; mistakes are named at load', () => {
  expect(parseConfig(`${MINIMAL}listen: { trusted-proxies: [10.0.0.0/24, 192.0.2.7] }\n`).listen.trustedProxies).toEqual([
    '10.0.0.0/24',
    '192.0.2.7/32',
  ]);
  const problems = (text: string): string[] => {
    try {
      parseConfig(text);
    } catch (error) {
      return (error as ConfigError).problems;
    }
    return [];
  };
  expect(problems(`${MINIMAL}listen: { trusted-proxies: [0.0.0.0/0, 7] }\n`)).toEqual([
    'listen.trusted-proxies[0]: "0.0.0.0/0" trusts too wide a range (at least /8: name your proxies\' own subnet); e.g. 10.0.0.0/24',
    'listen.trusted-proxies[1]: 7 is not a string; e.g. 10.0.0.0/24',
  ]);
  expect(problems(`${MINIMAL}listen: { trusted-proxies: 10.0.0.0/8 }\n`)).toEqual([
    "listen.trusted-proxies: must be a list of your proxies' CIDRs; e.g. [10.0.0.0/24]",
  ]);
  expect(ConfigError).toBeDefined();
});
