import { lookup } from 'node:dns/promises';
import type { LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { networkInterfaces } from 'node:os';
import { domainAllowed } from '../../core/policy/egress-rules';
import type { CertifiedPolicy } from '../../core/wire/policy';
import type { HostRules } from '../confinement/host-rules';

/** A destination the policy and the host rules let through, with the addresses that were checked. */
export interface CheckedDestination {
  host: string;
  port: number;
  /** Connect to these and nothing else: a second lookup could answer differently (DNS rebinding). */
  addresses: readonly LookupAddress[];
}

/** The destination is not one this policy or host lets a command or http_fetch reach (wire reason destination-refused). */
export class DestinationRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DestinationRefused';
  }
}

/** The name is allowed but does not resolve: the world's failure, not a refusal. */
export class DestinationUnresolved extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DestinationUnresolved';
  }
}

export interface DestinationRules {
  policy: Pick<CertifiedPolicy, 'allowedDomains'>;
  host: Pick<HostRules, 'brokers' | 'allowLoopback'>;
}

function blockList(v4: string[], v6: string[]): BlockList {
  const list = new BlockList();
  for (const cidr of v4) {
    const [net, bits] = cidr.split('/');
    list.addSubnet(net!, Number(bits), 'ipv4');
  }
  for (const cidr of v6) {
    const [net, bits] = cidr.split('/');
    list.addSubnet(net!, Number(bits), 'ipv6');
  }
  return list;
}

/** Services of this very host: the agent's own, the broker, anything bound to localhost only. */
const LOOPBACK = blockList(['127.0.0.0/8'], ['::1/128']);
/** Cloud metadata (169.254.169.254), link-local neighbours; nothing a build needs. */
const LINK_LOCAL = blockList(['169.254.0.0/16'], ['fe80::/10']);
/** 0.0.0.0 and :: reach this host's listeners on Linux, like loopback; multicast and broadcast are not one server. */
const NEVER = blockList(['0.0.0.0/8', '224.0.0.0/4', '240.0.0.0/4'], ['::/128', 'ff00::/8']);

/** The IPv4 address inside an IPv4-mapped IPv6 one (::ffff:127.0.0.1), so a mapped form cannot slip by the v4 rules. */
function unmapped(address: string, family: number): { address: string; type: 'ipv4' | 'ipv6' } {
  const mapped = family === 6 ? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address) : null;
  if (mapped) return { address: mapped[1]!, type: 'ipv4' };
  return { address, type: family === 6 ? 'ipv6' : 'ipv4' };
}

/** Why an address may not be reached, or null when it may. */
export function addressProblem(address: string, family: number, allowLoopback: boolean): string | null {
  const a = unmapped(address, family);
  if (LINK_LOCAL.check(a.address, a.type)) return 'a link-local address (cloud metadata)';
  if (NEVER.check(a.address, a.type)) return 'an unspecified, multicast or reserved address';
  if (LOOPBACK.check(a.address, a.type) && !allowLoopback) return 'a loopback address of the agent host';
  return null;
}

/** Every address that reaches this host's own listeners: where a broker bound to 0.0.0.0 also answers. */
function ownAddresses(): Set<string> {
  const own = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) own.add(unmapped(i.address, i.family === 'IPv6' ? 6 : 4).address);
  return own;
}

async function resolveAll(host: string): Promise<LookupAddress[]> {
  const family = isIP(host);
  if (family) return [{ address: host, family }];
  // IPv4 first: a name such as localhost answers ::1 too, and most services listen on IPv4.
  return lookup(host, { all: true, verbatim: false });
}

/** Whether `address:port` is the broker: its own name's addresses, or this host's (loopback included) when the broker runs here. */
async function isBroker(address: string, family: number, port: number, broker: HostRules['brokers'][number]): Promise<boolean> {
  if (port !== broker.port) return false;
  const a = unmapped(address, family);
  let brokerAddresses: LookupAddress[] = [];
  try {
    brokerAddresses = await resolveAll(broker.host.replace(/^\[|\]$/g, ''));
  } catch {
    // The broker's name does not resolve from here: the host's own addresses below still cover a local broker.
  }
  const brokerAt = brokerAddresses.map((b) => unmapped(b.address, b.family));
  if (brokerAt.some((b) => b.address === a.address)) return true;
  const own = ownAddresses();
  const brokerHere = brokerAt.some((b) => LOOPBACK.check(b.address, b.type) || own.has(b.address));
  return brokerHere && (LOOPBACK.check(a.address, a.type) || NEVER.check(a.address, a.type) || own.has(a.address));
}

/**
 * The one gate for every connection a command's proxy or http_fetch makes: the name must be in the certified
 * allowedDomains (domainAllowed, the broker's pre-check agrees), and every address it resolves to must be
 * reachable by the host rules. One refused address refuses the name: a resolver that mixes a public address
 * with 127.0.0.1 must not get a second chance at the connect.
 */
export async function checkDestination(host: string, port: number, rules: DestinationRules): Promise<CheckedDestination> {
  const name = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (!domainAllowed(name, rules.policy.allowedDomains)) {
    throw new DestinationRefused(rules.policy.allowedDomains.length === 0 ? `${name} is not reachable: the policy allows no domains` : `${name} is not in the policy's allowedDomains`);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new DestinationRefused(`port ${port} is not a TCP port`);
  let addresses: LookupAddress[];
  try {
    addresses = await resolveAll(name);
  } catch (err) {
    throw new DestinationUnresolved(`${name} does not resolve (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (addresses.length === 0) throw new DestinationUnresolved(`${name} does not resolve`);
  for (const { address, family } of addresses) {
    for (const broker of rules.host.brokers) {
      if (await isBroker(address, family, port, broker)) throw new DestinationRefused(`${name}:${port} is the broker, which no command or fetch may reach`);
    }
    const problem = addressProblem(address, family, rules.host.allowLoopback);
    if (problem) throw new DestinationRefused(`${name} resolves to ${problem}`);
  }
  return { host: name, port, addresses };
}

/**
 * A `lookup` for net.connect / http.request that answers with the checked addresses only: the socket connects
 * where the check looked, and the TLS certificate is still verified against the name.
 */
export function pinnedLookup(destination: CheckedDestination): LookupFunction {
  return (_hostname, options, callback) => {
    const first = destination.addresses[0]!;
    if ((options as { all?: boolean }).all) (callback as (err: null, addresses: LookupAddress[]) => void)(null, [...destination.addresses]);
    else callback(null, first.address, first.family);
  };
}
