import type { Confinement } from '../../core/wire/policy';

/** What this agent host's operator decided at start, for every command and fetch, whatever the policy says. */
export interface HostRules {
  /** How commands run here; its ceilings narrow every policy's commandLimits. */
  confinement: Confinement;
  /** Never reachable from a command or http_fetch, whatever allowedDomains names: the broker's own host and port. */
  broker: { host: string; port: number };
  /** --egress-allow-loopback: loopback destinations pass when their name is allowed (a local mirror; the tests). */
  allowLoopback: boolean;
}
