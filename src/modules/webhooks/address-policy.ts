import ipaddr from 'ipaddr.js';
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';

/** Which addresses a delivery may connect to. */
export interface AddressPolicy {
  /** WEBHOOKS_ALLOW_LOOPBACK: loopback addresses (127.0.0.0/8, ::1) too. */
  allowLoopback: boolean;
  /** Only loopback addresses (plain http without WEBHOOKS_ALLOW_HTTP: allowed to loopback only). */
  loopbackOnly?: boolean;
}

/**
 * Why `address` may not be reached (the ipaddr.js range it falls in: loopback, private, linkLocal,
 * carrierGradeNat, uniqueLocal, ...), or null when it may. Only global unicast passes, plus loopback
 * when the policy allows it; IPv4-mapped IPv6 (::ffff:10.0.0.1) is judged as the IPv4 address it maps.
 */
export function refusedRange(address: string, policy: AddressPolicy): string | null {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    // process(): an IPv4-mapped IPv6 address becomes its IPv4 address.
    parsed = ipaddr.process(address.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, ''));
  } catch {
    return 'not an IP address';
  }
  const range = parsed.range();
  if (range === 'loopback') return policy.allowLoopback ? null : 'loopback';
  if (policy.loopbackOnly) return `${range} (plain http goes to loopback addresses only)`;
  return range === 'unicast' ? null : range;
}

/** A connection refused because the host names (or resolves to) no address a webhook may reach. */
export class RefusedAddressError extends Error {
  readonly code = 'WEBHOOK_ADDRESS_REFUSED';
  constructor(host: string, refused: { address: string; range: string }[]) {
    const list = refused.map((r) => `${r.address}: ${r.range}`).join(', ');
    const [only] = refused;
    super(
      refused.length === 1 && only?.address === host
        ? `${host} is not an address webhooks may reach (${only.range})`
        : `${host} resolves to no address webhooks may reach (${list})`,
    );
    this.name = 'RefusedAddressError';
  }
}

export type Resolver = (
  hostname: string,
  options: LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/**
 * A `lookup` for net/tls.connect that resolves the name and keeps only the addresses the policy
 * allows. It runs for every connection, so the address checked is the address connected to: a name
 * that resolved to a public address when the endpoint was created and to 10.0.0.1 now (DNS
 * rebinding) is refused now.
 */
export function filteringLookup(policy: AddressPolicy, resolve: Resolver = dnsLookup as Resolver): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return (callback as (e: Error) => void)(err);
      const allowed = addresses.filter((a) => refusedRange(a.address, policy) === null);
      const [first] = allowed;
      if (!first) {
        const refused = addresses.map((a) => ({ address: a.address, range: refusedRange(a.address, policy)! }));
        return (callback as (e: Error) => void)(new RefusedAddressError(hostname, refused));
      }
      if ((options as { all?: boolean }).all) return (callback as (e: null, a: LookupAddress[]) => void)(null, allowed);
      callback(null, first.address, first.family);
    });
  };
}

/** Resolves a name (or takes an IP literal) to the addresses the policy refuses and those it allows. */
export async function checkHost(
  hostname: string,
  policy: AddressPolicy,
  resolve: Resolver = dnsLookup as Resolver,
): Promise<{ allowed: string[]; refused: { address: string; range: string }[] }> {
  const bare = hostname.replace(/^\[(.*)\]$/, '$1');
  const addresses = ipaddr.isValid(bare)
    ? [bare]
    : await new Promise<string[]>((resolveP, reject) =>
        resolve(bare, { all: true }, (err, found) => (err ? reject(err) : resolveP(found.map((a) => a.address)))),
      );
  const allowed: string[] = [];
  const refused: { address: string; range: string }[] = [];
  for (const address of addresses) {
    const range = refusedRange(address, policy);
    if (range === null) allowed.push(address);
    else refused.push({ address, range });
  }
  return { allowed, refused };
}
