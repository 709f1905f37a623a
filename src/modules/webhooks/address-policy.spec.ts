import type { LookupAddress } from 'node:dns';
import { checkHost, filteringLookup, refusedRange, Resolver } from './address-policy';

const strict = { allowLoopback: false };
const loopback = { allowLoopback: true };

describe('refusedRange', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.8.9.10', 'loopback'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['100.100.100.200', 'carrierGradeNat'],
    ['0.0.0.0', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['224.0.0.1', 'multicast'],
    ['192.0.2.10', 'reserved'],
    ['fe80::1', 'linkLocal'],
    ['fd00:ec2::254', 'uniqueLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['::', 'unspecified'],
    ['ff02::1', 'multicast'],
    ['64:ff9b::a00:1', 'rfc6052'],
    ['2002:a00:1::', '6to4'],
    // IPv4-mapped IPv6 is judged as the IPv4 address it maps.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:169.254.169.254', 'linkLocal'],
    ['not-an-ip', 'not an IP address'],
  ])('refuses %s (%s)', (address, range) => {
    expect(refusedRange(address, strict)).toBe(range);
  });

  it.each(['93.184.215.14', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('allows the public address %s', (address) => {
    expect(refusedRange(address, strict)).toBeNull();
  });

  it('allows loopback, and only loopback, with allowLoopback', () => {
    expect(refusedRange('127.0.0.1', loopback)).toBeNull();
    expect(refusedRange('::1', loopback)).toBeNull();
    expect(refusedRange('::ffff:127.0.0.1', loopback)).toBeNull();
    expect(refusedRange('10.0.0.1', loopback)).toBe('private');
    expect(refusedRange('169.254.169.254', loopback)).toBe('linkLocal');
  });

  it('sends plain http to loopback only (loopbackOnly)', () => {
    expect(refusedRange('127.0.0.1', { allowLoopback: true, loopbackOnly: true })).toBeNull();
    expect(refusedRange('8.8.8.8', { allowLoopback: true, loopbackOnly: true })).toMatch(/^unicast/);
    expect(refusedRange('127.0.0.1', { allowLoopback: false, loopbackOnly: true })).toBe('loopback');
  });
});

/** A resolver answering from a table, as dns.lookup({all: true}) would. */
function table(answers: Record<string, string[]>): Resolver {
  return (hostname, _options, callback) => {
    const found = answers[hostname];
    if (!found) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []);
    callback(
      null,
      found.map((address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 })),
    );
  };
}

function lookupOnce(lookup: ReturnType<typeof filteringLookup>, host: string, all: boolean): Promise<unknown> {
  return new Promise((resolve, reject) => {
    lookup(
      host,
      { all } as never,
      ((err: Error | null, address: unknown, family?: number) =>
        err ? reject(err) : resolve(all ? address : { address, family })) as never,
    );
  });
}

describe('filteringLookup (what net.connect resolves through)', () => {
  const resolver = table({
    'rebind.test': ['10.0.0.7'],
    'mixed.test': ['127.0.0.1', '93.184.215.14'],
    'public.test': ['93.184.215.14'],
    'metadata.test': ['169.254.169.254', 'fd00:ec2::254'],
    localhost: ['127.0.0.1', '::1'],
  });

  it('refuses a name that resolves only to forbidden addresses, naming them', async () => {
    await expect(lookupOnce(filteringLookup(strict, resolver), 'rebind.test', false)).rejects.toThrow(
      'rebind.test resolves to no address webhooks may reach (10.0.0.7: private)',
    );
    await expect(lookupOnce(filteringLookup(strict, resolver), 'metadata.test', true)).rejects.toThrow(
      /169\.254\.169\.254: linkLocal, fd00:ec2::254: uniqueLocal/,
    );
    await expect(lookupOnce(filteringLookup(strict, resolver), 'localhost', false)).rejects.toThrow(/127\.0\.0\.1: loopback/);
  });

  it('keeps only the allowed addresses of a name that resolves to both kinds', async () => {
    await expect(lookupOnce(filteringLookup(strict, resolver), 'mixed.test', true)).resolves.toEqual([
      { address: '93.184.215.14', family: 4 },
    ]);
    await expect(lookupOnce(filteringLookup(strict, resolver), 'mixed.test', false)).resolves.toEqual({
      address: '93.184.215.14',
      family: 4,
    });
  });

  it('passes loopback with allowLoopback, and still nothing private', async () => {
    await expect(lookupOnce(filteringLookup(loopback, resolver), 'localhost', true)).resolves.toHaveLength(2);
    await expect(lookupOnce(filteringLookup(loopback, resolver), 'rebind.test', false)).rejects.toThrow(/private/);
  });

  it('passes resolution errors on', async () => {
    await expect(lookupOnce(filteringLookup(strict, resolver), 'nowhere.test', false)).rejects.toThrow(/ENOTFOUND/);
  });

  it('checkHost judges IP literals without resolving and names with the resolver', async () => {
    await expect(checkHost('[::1]', strict, resolver)).resolves.toEqual({ allowed: [], refused: [{ address: '::1', range: 'loopback' }] });
    await expect(checkHost('public.test', strict, resolver)).resolves.toEqual({ allowed: ['93.184.215.14'], refused: [] });
  });
});
