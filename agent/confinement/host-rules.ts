import { narrowLimits } from '../../core/policy/command-limits';
import type { CertifiedPolicy, Confinement } from '../../core/wire/policy';
import type { SystemView } from './system-view';

/**
 * Bytes the commands of one intent may still add to the workspace's disk: one allowance per intent, shared by
 * every command of an llm_task, started at the policy's commandLimits.workspaceWriteBytes narrowed to the host's
 * ceiling. Commands spend from it as they write; a command that overspends it is stopped.
 */
export interface WriteAllowance {
  remainingBytes: number;
}

/** What a sandboxed host starts its commands with, found by the probe at start. */
export interface SandboxHost {
  /** The bwrap found on the agent's own PATH. */
  bwrap: string;
  system: SystemView;
  /** The agent's state directory, key and model key files: never visible to a command. */
  hidden: readonly string[];
}

/** What this agent host's operator decided at start, for every command and fetch, whatever the policy says. */
export interface HostRules {
  /** How commands run here; its ceilings narrow every policy's commandLimits. */
  confinement: Confinement;
  /** Present when confinement.mode is 'sandboxed'; a sandboxed mode without it fails closed. */
  sandbox?: SandboxHost;
  /** Never reachable from a command or http_fetch, whatever allowedDomains names: the host and port of every broker URL the agent was given. */
  brokers: readonly { host: string; port: number }[];
  /** --egress-allow-loopback: loopback destinations pass when their name is allowed (a local mirror; the tests). */
  allowLoopback: boolean;
}

/** A fresh allowance for one intent, from the policy it was certified under. */
export function writeAllowance(policy: Pick<CertifiedPolicy, 'commandLimits'>, host: HostRules): WriteAllowance {
  return { remainingBytes: narrowLimits(policy.commandLimits, host.confinement.ceilings).workspaceWriteBytes };
}
