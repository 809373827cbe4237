import { describe, expect, it } from 'vitest';
import {
  checkedAddresses,
  RefusedUrlError,
  type ResolvedAddress,
  type Resolver,
  refusedAddressReason,
} from '../../../shared/webhooks/address-guard.js';

/** A resolver over a fixed table: nothing here resolves over the network. */
function fakeResolver(table: Record<string, string[]>): Resolver {
  return async (hostname) => {
    const addresses = table[hostname];
    if (!addresses)
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address): ResolvedAddress => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
}

describe('refusedAddressReason', () => {
  it.each([
    ['127.0.0.1', /loopback/],
    ['127.255.0.9', /loopback/],
    ['10.0.0.1', /private/],
    ['172.16.5.4', /private/],
    ['172.31.255.255', /private/],
    ['192.168.1.1', /private/],
    ['169.254.0.1', /link-local/],
    ['169.254.169.254', /metadata/],
    ['169.254.170.2', /metadata/],
    ['100.64.0.1', /carrier-grade NAT/],
    ['100.127.255.254', /carrier-grade NAT/],
    ['100.100.100.200', /metadata/],
    ['168.63.129.16', /metadata/],
    ['0.0.0.0', /unspecified/],
    ['224.0.0.251', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['192.0.2.10', /reserved/],
    ['::1', /loopback/],
    ['::', /unspecified/],
    ['fe80::1', /link-local/],
    ['fe80::1%eth0', /scoped/],
    ['fc00::1', /unique-local/],
    ['fd12:3456::1', /unique-local/],
    ['fd00:ec2::254', /metadata/],
    ['ff02::1', /multicast/],
    ['::ffff:127.0.0.1', /loopback/],
    ['::ffff:10.1.1.1', /private/],
    ['::ffff:169.254.169.254', /metadata/],
    ['::ffff:7f00:1', /loopback/],
    ['64:ff9b::a9fe:a9fe', /metadata/],
    ['64:ff9b::c0a8:0101', /private/],
    ['2002:7f00:0001::1', /loopback/],
    ['2001:db8::1', /reserved/],
    // IPv4-translated (RFC 6145): judged by the IPv4 address it carries.
    ['::ffff:0:7f00:1', /loopback/],
    ['::ffff:0:a9fe:a9fe', /metadata/],
    // The deprecated IPv4-compatible form and the rest outside global unicast (2000::/3).
    ['::127.0.0.1', /loopback|reserved/],
    ['::a9fe:a9fe', /reserved/],
    ['::a00:1', /reserved/],
    ['3fff::1', /reserved/],
    ['4000::1', /reserved/],
    ['not-an-address', /not an IP/],
  ])('refuses %s', (address, reason) => {
    expect(refusedAddressReason(address)).toMatch(reason);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.216.34',
    '172.32.0.1',
    '100.128.0.1',
    '2606:4700:4700::1111',
    '2a00:1450:4001:80b::200e',
    '::ffff:8.8.4.4',
    '64:ff9b::808:808',
    '::ffff:0:808:808',
  ])('accepts the public address %s', (address) => {
    expect(refusedAddressReason(address)).toBeUndefined();
  });
});

describe('checkedAddresses', () => {
  const resolve = fakeResolver({
    'hooks.example.com': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
    'internal.example.com': ['10.0.0.7'],
    'mixed.example.com': ['93.184.216.34', '127.0.0.1'],
    'metadata.example.com': ['169.254.169.254'],
    'v6-ula.example.com': ['fd00::5'],
    'empty.example.com': [],
  });

  it('answers every address of a host that resolves only to public addresses', async () => {
    expect(await checkedAddresses(new URL('https://hooks.example.com/x'), resolve)).toEqual([
      { address: '93.184.216.34', family: 4 },
      { address: '2606:2800:220:1:248:1893:25c8:1946', family: 6 },
    ]);
  });

  it.each([
    ['https://internal.example.com/', /10\.0\.0\.7, a private address/],
    ['https://mixed.example.com/', /127\.0\.0\.1, a loopback address/],
    ['https://metadata.example.com/', /metadata/],
    ['https://v6-ula.example.com/', /unique-local/],
    ['https://unknown.example.com/', /could not be resolved/],
    ['https://empty.example.com/', /could not be resolved/],
    ['https://127.0.0.1:8443/', /loopback/],
    ['https://[::1]/', /loopback/],
    ['https://[::ffff:a9fe:a9fe]/', /metadata/],
    ['https://[::ffff:0:7f00:1]/', /loopback/],
    ['https://[::127.0.0.1]/', /loopback|reserved/],
    ['https://[::a9fe:a9fe]/', /reserved/],
    ['http://169.254.169.254/latest/meta-data/', /metadata/],
    ['https://0x7f000001/', /loopback/],
    ['https://2130706433/', /loopback/],
  ])('refuses %s', async (url, reason) => {
    const checked = checkedAddresses(new URL(url), resolve);
    await expect(checked).rejects.toBeInstanceOf(RefusedUrlError);
    await expect(checked).rejects.toThrow(reason);
  });

  it('never asks the resolver about an IP literal', async () => {
    const refusing: Resolver = async () => {
      throw new Error('the resolver must not be called');
    };
    expect(await checkedAddresses(new URL('https://8.8.8.8/hook'), refusing)).toEqual([
      { address: '8.8.8.8', family: 4 },
    ]);
  });
});
