import { describeRule } from '../../core/policy/rules';
import type { AgentView } from '../../core/rpc/views';
import { visibleText } from '../../core/text/untrusted-text';
import type { Capability } from '../../core/wire/policy';
import type { AnyRule } from '../../core/wire/policy-rules';
import { boundedModelText } from '../../core/text/model-text';

/** What each capability does on the agent, for the model: the params it takes are in vaultysclaw_dispatch's schema. */
export const CAPABILITY_WORDS: Record<Capability, string> = {
  read_file: 'read a text file; params {path} relative to the agent\'s workspace',
  list_files: 'list a directory; params {path} relative to the workspace ("." is its root)',
  write_file: 'create or replace a file; params {path, content, mode: "create" | "overwrite"}',
  run_command: 'run a program (no shell) in a sandbox without network unless the policy allows domains; params {command, args[], cwd, timeoutMs}',
  http_fetch: 'make one HTTP request to a host among the allowed domains; params {method, url, headers?, body?, timeoutMs}',
  llm_task: "have the agent host's own model carry out an instruction with its tools; params {instruction, tools?, maxSteps?, timeLimitMs?}",
};

/**
 * vaultysclaw_listAgents's answer: the online approved agents, each with its DID, what it may do and the rules
 * that hold or refuse a call, in words; the others by name only. The names are the agents' own words, shown
 * visible (no hidden characters can reorder what the model reads).
 */
export function agentsText(agents: readonly AgentView[]): string {
  const approved = agents.filter((a) => a.status === 'approved' && !a.removed);
  const online = approved.filter((a) => a.online);
  const offline = approved.filter((a) => !a.online);
  if (online.length === 0) {
    return boundedModelText(`No agent is online.${offline.length ? ` Offline: ${offline.map((a) => visibleText(a.name)).join(', ')}.` : ''} Ask the user to start one (it runs on a build machine, not in this editor).`, '', '');
  }
  const lines = [
    `${online.length} agent${online.length === 1 ? '' : 's'} online. Each runs on a remote build machine; every call is signed with the user's key, checked against the agent's signed policy, and may be held for a human reviewer.`,
  ];
  for (const a of online) {
    const p = a.policy;
    lines.push('', `Agent ${visibleText(a.name)} (online)`, `  DID: ${a.did}`);
    if (!p || p.capabilities.length === 0) {
      lines.push('  Capabilities: none granted');
      continue;
    }
    lines.push('  Capabilities:');
    for (const c of p.capabilities) {
      const rules = (p.rules?.[c]?.rules as readonly AnyRule[] | undefined) ?? [];
      const fallback = p.rules?.[c]?.default;
      const review = p.approvalRequired.includes(c) && !p.rules?.[c] ? ' (every call needs a reviewer other than the user)' : '';
      lines.push(`  - ${c}: ${CAPABILITY_WORDS[c]}${review}`);
      for (const r of rules) lines.push(`      rule: ${visibleText(describeRule(c, r))}`);
      if (fallback) lines.push(`      otherwise: ${fallback}`);
    }
    if (p.allowedDomains.length) lines.push(`  Allowed domains: ${p.allowedDomains.join(', ')}`);
  }
  if (offline.length) lines.push('', `Offline: ${offline.map((a) => visibleText(a.name)).join(', ')}.`);
  lines.push('', 'Rules: allow runs it, ask holds it for a reviewer other than the user, deny refuses it; the first rule that matches decides.');
  // The first line is kept whole; the list is what a cut shortens.
  return boundedModelText(lines[0]!, lines.slice(1).join('\n'), '');
}
