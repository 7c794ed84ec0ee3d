import { z } from 'zod';
import type { AgentView, PolicyTestResult } from '../../core/rpc/views';
import { displayName, nameKey, visibleJson, visibleText } from '../../core/text/untrusted-text';
import { Did } from '../../core/wire/common';
import { Capability } from '../../core/wire/policy';
import { parseIntentCall, type IntentCall } from '../../core/wire/task';

/**
 * vaultysclaw_dispatch's input, checked before anything is shown or signed: the model writes it, and the
 * confirmation must show exactly what the broker will sign. The JSON schema in package.json says the same for
 * the model; this is the check.
 */
export const DispatchInput = z.strictObject({
  /** A DID, or the name of exactly one approved agent. */
  agent: z.string().min(1).max(512),
  capability: Capability,
  params: z.record(z.string(), z.unknown()),
});
export type DispatchInput = z.infer<typeof DispatchInput>;

export type Checked = { ok: true; agent: AgentView; call: IntentCall } | { ok: false; problem: string };

/**
 * The agent a model named: by DID, or by a name exactly one approved agent has (names compared as the broker keeps
 * them apart, nameKey). Two agents with one name: the model is asked for the DID rather than handed either.
 */
export function resolveAgent(agents: readonly AgentView[], ref: string): { ok: true; agent: AgentView } | { ok: false; problem: string } {
  const approved = agents.filter((a) => a.status === 'approved');
  if (Did.safeParse(ref).success) {
    const agent = approved.find((a) => a.did === ref);
    return agent ? { ok: true, agent } : { ok: false, problem: `no approved agent has the DID ${ref}; vaultysclaw_listAgents lists them` };
  }
  const matches = approved.filter((a) => nameKey(a.name) === nameKey(ref));
  if (matches.length === 1) return { ok: true, agent: matches[0]! };
  if (matches.length > 1) return { ok: false, problem: `${matches.length} agents are named ${JSON.stringify(visibleText(ref))}: give the DID of the one you mean (${matches.map((a) => a.did).join(', ')})` };
  const known = approved.map((a) => visibleText(a.name));
  return { ok: false, problem: `no approved agent is named ${JSON.stringify(visibleText(ref))}${known.length ? `; the agents are: ${known.join(', ')}` : '; there is none yet'}` };
}

/** The whole input checked against the agents this session knows: the agent, then the call's params as the wire schema wants them. */
export function checkDispatch(agents: readonly AgentView[], raw: unknown): Checked {
  const input = DispatchInput.safeParse(raw);
  if (!input.success) {
    const issue = input.error.issues[0];
    return { ok: false, problem: `${issue?.path.join('.') || 'input'}: ${issue?.message ?? 'invalid'}` };
  }
  const agent = resolveAgent(agents, input.data.agent);
  if (!agent.ok) return agent;
  const call = parseIntentCall(input.data);
  if (!call.ok) return { ok: false, problem: `params for ${input.data.capability}: ${call.message}` };
  return { ok: true, agent: agent.agent, call: call.call };
}

const HEADER_SHOWN = /^(accept|accept-language|content-type|user-agent|cache-control)$/i;

/**
 * The params as the confirmation shows them: what will be signed, except what must not reach a screen or the
 * chat log: a write's content and a request body by their size only, header values other than a few harmless ones
 * hidden (an Authorization header is a secret the user typed once, not something to echo).
 */
export function paramsShown(call: IntentCall): Record<string, unknown> {
  const p = call.params as Record<string, unknown>;
  switch (call.capability) {
    case 'write_file':
      return { path: p.path, mode: p.mode, content: `${Buffer.byteLength(String(p.content), 'utf8')} bytes (not shown)` };
    case 'http_fetch': {
      const headers = p.headers as Record<string, string> | undefined;
      return {
        ...p,
        ...(headers ? { headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, HEADER_SHOWN.test(k) ? v : '(hidden)'])) } : {}),
        ...(typeof p.body === 'string' ? { body: `${Buffer.byteLength(p.body, 'utf8')} bytes (not shown)` } : {}),
      };
    }
    default:
      return p;
  }
}

/** VS Code's confirmation for one dispatch: the intent as the broker will sign it, the agent by name and DID. */
export function confirmation(agent: AgentView, call: IntentCall, dryRun: string | undefined): { title: string; message: string } {
  const what = call.capability === 'write_file' ? `write ${Buffer.byteLength(String(call.params.content), 'utf8')} bytes to ${visibleText(String(call.params.path))}` : call.capability;
  return {
    title: `VaultysClaw: ${what} on ${visibleText(agent.name)}?`,
    message: [
      `A model asks to dispatch this intent, signed with your key, to a remote build machine:`,
      '',
      `Agent: ${displayName(agent.name, agent.did)}`,
      `DID: ${agent.did}`,
      `Capability: ${call.capability}`,
      `Params: ${visibleJson(paramsShown(call))}`,
      '',
      ...(dryRun ? [dryRun, ''] : []),
      'The broker and the agent check it against the signed policy; a rule may hold it for a reviewer.',
    ].join('\n'),
  };
}

/** The broker's dry run (policy/test) in one line for the confirmation; `solo` says when nobody else could review it. */
export function dryRunLine(dry: PolicyTestResult, solo: string | undefined): string {
  switch (dry.verdict) {
    case 'allowed':
      return 'Dry run: the policy allows it; it runs without a reviewer.';
    case 'needs-approval':
      return `Dry run: it will wait for ${dry.reviewers === 1 ? 'a reviewer' : `${dry.reviewers} reviewers`} other than you${dry.rule ? ` (${visibleText(dry.rule.description)})` : ''}.${solo ? ` ${solo}` : ''}`;
    case 'refused':
      return `Dry run: the broker would refuse it: ${visibleText(dry.message)}${dry.reason ? ` (${dry.reason})` : ''}.`;
  }
}
