import { Option, type Command } from 'commander';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { IdType, parsePin, readKeyFile, seal, SecretIdentity, writeKeyFile } from '../../core/identity';
import { Role } from '../../core/rpc/roles';
import { UserHello } from '../../core/rpc/user-auth';
import type { PolicyInput, PolicyTestResult } from '../../core/rpc/views';
import { formatLimit, LIMIT_FIELDS, parseDomainList, parseLimit } from '../../core/rpc/policy-text';
import { MAX_COMMAND_LIMITS } from '../../core/policy/command-limits';
import { allPages } from '../../core/rpc/pages';
import { readRulesDocument } from '../../core/rpc/rules-document';
import { rulesProblemText } from '../../core/rpc/rules-problem';
import type { PolicyRules } from '../../core/wire/policy-rules';
import { BUDGETS } from '../../core/budgets';
import type { ApprovalDecisionBody } from '../../core/wire/approval';
import { normalizeFingerprint } from '../../core/wire/broker-tls';
import { brokerUrlList, brokerUrlProblem } from '../../core/wire/broker-url';
import { CAPABILITIES, type Capability, type CommandLimits } from '../../core/wire/policy';
import { visibleJson, visibleText } from '../../core/text/untrusted-text';
import { defaultDataDir } from '../config';
import { BrokerClient } from './broker-client';
import { dispatchAndWait } from './dispatch-and-wait';

const DAY_MS = 24 * 60 * 60_000;
/** Lists are read a page at a time, the largest page the broker serves. */
const PAGE = BUDGETS.listPageItems.limit;

// Names, paths and outputs in what the CLI prints are others' text: invisible characters come out escaped.
const print = (value: unknown): void => {
  process.stdout.write(`${visibleJson(value)}\n`);
};

function capabilities(text: string): Capability[] {
  const list = text.split(',').map((c) => c.trim()).filter(Boolean);
  const unknown = list.filter((c) => !(CAPABILITIES as readonly string[]).includes(c));
  if (unknown.length) throw new Error(`unknown capabilities: ${unknown.join(', ')} (known: ${CAPABILITIES.join(', ')})`);
  return list as Capability[];
}

/**
 * The invitation token, from a file or stdin (`-`). Never from argv: a command line is readable by every
 * local user (ps, /proc/<pid>/cmdline) for as long as the command runs, and the token makes its holder a user.
 */
function readInvitation(source: string): string {
  let text: string;
  try {
    text = source === '-' ? readFileSync(0, 'utf8') : readFileSync(resolve(source), 'utf8');
  } catch (err) {
    throw new Error(`cannot read the invitation from ${source === '-' ? 'stdin' : source}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const token = text.trim();
  // The message never repeats what was read: it may be a secret pasted in the wrong place.
  if (!UserHello.shape.invitation.safeParse(token).success) throw new Error('the invitation must be the 43-character token "invite" printed, alone');
  return token;
}

/** `--rules-file`: the rules of a JSON document, checked as the broker will check them; `none` removes them. */
function rulesFile(file: string): PolicyRules | null {
  if (file === 'none') return null;
  let text: string;
  try {
    text = readFileSync(resolve(file), 'utf8');
  } catch (err) {
    throw new Error(`--rules-file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const read = readRulesDocument(text);
  if (!read.ok) throw new Error(`--rules-file ${file}: ${rulesProblemText(read.problem)}`);
  return read.rules;
}

/** Params given on the command line: a JSON object, or an error that shows one. */
function jsonObject(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('params must be a JSON object, e.g. \'{"path":"README.md"}\'');
  return parsed as Record<string, unknown>;
}

/** The dry run's answer for people: the verdict first, then what decided it and what only the agent can check. */
function policyTestText(r: PolicyTestResult): string {
  const verdict =
    r.verdict === 'refused'
      ? `refused (${r.reason ?? 'not allowed'})`
      : r.verdict === 'needs-approval'
        ? `needs ${r.reviewers} approval${r.reviewers === 1 ? '' : 's'}${r.selfReview ? " (you may approve it yourself if a model chose it: a task's tool call, or an intent sent by an editor AI or MCP client)" : ''}`
        : 'allowed';
  const lines = [`verdict: ${verdict}`, `decided by: ${r.gate}${r.rule ? ` (${r.rule.description})` : ''}`, `why: ${r.message}`];
  for (const check of r.hostChecks) lines.push(`the agent also checks: ${check}`);
  return `${lines.map((l) => visibleText(l)).join('\n')}\n`;
}

/** The key commander gives an option's value: --max-cpu-seconds → maxCpuSeconds. */
const camelCase = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

function positive(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${what} must be a positive number`);
  return n;
}

/** Where and as whom a command connects: the local socket as the host operator, or a team broker as a user. */
export interface Connection {
  dataDir: string;
  url?: string;
  brokerDid?: string;
  allowPlainWs?: boolean;
  ca?: string;
  tlsPin?: string;
  key?: string;
  name?: string;
  invitation?: string;
}

/** Without --key: the broker host's operator on the local socket. With --key: that user, on --url if given, else locally. */
export async function connect(o: Connection): Promise<BrokerClient> {
  if (!o.key) return BrokerClient.connect(o.dataDir);
  const hello = { name: o.name ?? 'cli', ...(o.invitation ? { invitation: o.invitation } : {}) };
  if (!o.url) return BrokerClient.connect(o.dataDir, readKeyFile(resolve(o.key)), hello);
  if (!o.brokerDid) throw new Error('--url needs --broker-did: the broker to pin');
  const urls = brokerUrlList([o.url]);
  for (const url of urls) {
    const urlProblem = brokerUrlProblem(url, Boolean(o.allowPlainWs), 'pass --allow-plain-ws');
    if (urlProblem) throw new Error(urlProblem);
  }
  if (o.tlsPin !== undefined && !normalizeFingerprint(o.tlsPin)) throw new Error('--tls-pin must be a SHA-256 fingerprint (64 hex digits, colons allowed)');
  const tls = o.ca || o.tlsPin ? { ca: o.ca ? readFileSync(resolve(o.ca)) : undefined, pinSha256: o.tlsPin } : undefined;
  const brokerDid = parsePin(o.brokerDid);
  if (!brokerDid) throw new Error(`"${o.brokerDid}" is neither a broker DID nor a fingerprint`);
  return BrokerClient.connectRemote(urls, brokerDid, readKeyFile(resolve(o.key)), hello, tls);
}

async function withClient(o: Connection, run: (client: BrokerClient, user: SecretIdentity | undefined) => Promise<void>): Promise<void> {
  const client = await connect(o);
  // If the broker goes away mid-request, the process must not end quietly with success.
  process.exitCode = 1;
  try {
    await run(client, o.key ? readKeyFile(resolve(o.key)) : undefined);
    if (process.exitCode === 1) process.exitCode = 0;
  } finally {
    client.close();
  }
}

/** A command that talks to a running broker, with the connection options every such command shares. */
export function clientCommand(program: Command, spec: string, description: string, options?: { isDefault?: boolean }): Command {
  return program
    .command(spec, options)
    .description(description)
    .option('--data-dir <dir>', 'data directory of a broker on this host (local socket)', defaultDataDir())
    .addOption(new Option('--url <url>', 'team broker hub URL (ws:// or wss://) instead of the local socket; for a cluster, its nodes\' URLs separated by commas (the first that answers serves)').env('VAULTYSCLAW_URL'))
    .addOption(new Option('--broker-did <did>', 'the broker DID or fingerprint to pin, with --url').env('VAULTYSCLAW_BROKER_DID'))
    .option('--allow-plain-ws', 'allow --url ws:// (unencrypted) to a host that is not a loopback address')
    .option('--ca <file>', "with --url wss://: PEM CA certificates the broker's TLS certificate must chain to (default: the system's)")
    .option('--tls-pin <sha256>', "with --url wss://: SHA-256 fingerprint of the broker's TLS certificate; accept that one only (it may be self-signed)")
    .addOption(new Option('--key <file>', 'your user key file (see "keygen")').env('VAULTYSCLAW_KEY'))
    .option('--name <name>', 'your display name');
}

/** Commands that talk to a running broker: administration, dispatch and reviews. */
export function addOperatorCommands(program: Command): void {
  program
    .command('keygen <file>')
    .description('create a user key file (a person VaultysId, mode 0600) and print its DID')
    .action((file: string) => {
      const identity = SecretIdentity.generate(IdType.Person);
      writeKeyFile(resolve(file), identity);
      process.stdout.write(`${identity.did}\n`);
    });

  clientCommand(program, 'join', 'prove your key to a broker for the first time, with an invitation')
    .requiredOption('--invitation-file <file>', 'a file holding the token an admin gave you, or - to read it from stdin (never on the command line, which every local user can read)')
    .action((o: Connection & { invitationFile: string }) => withClient({ ...o, invitation: readInvitation(o.invitationFile) }, async (c) => print(c.user)));

  clientCommand(program, 'whoami', 'print the broker you reach and the users it knows')
    .action((o: Connection) => withClient(o, async (c) => print({ broker: await c.call('brokerInfo', {}), users: await allPages((cursor) => c.call('usersList', { limit: PAGE, cursor })) })));

  clientCommand(program, 'invite', 'create a single-use invitation bound to a role (prints the token once)')
    .requiredOption('--role <role>', `one of ${Role.options.join(', ')}`)
    .option('--valid-days <n>', 'how long the invitation holds', '7')
    .option('--token-only', 'print only the token')
    .action((o: Connection & { role: string; validDays: string; tokenOnly?: boolean }) =>
      withClient(o, async (c) => {
        const created = await c.call('invitationsCreate', { role: Role.parse(o.role), validForMs: Math.round(positive(o.validDays, '--valid-days') * DAY_MS) });
        if (o.tokenOnly) process.stdout.write(`${created.token}\n`);
        else print(created);
      }),
    );

  clientCommand(program, 'users', 'list users and their roles').action((o: Connection) => withClient(o, async (c) => print(await allPages((cursor) => c.call('usersList', { limit: PAGE, cursor })))));

  clientCommand(program, 'set-role <did> <role>', "change a user's role (the host operator, without --key, may demote an owner)").action((did: string, role: string, o: Connection) =>
    withClient(o, async (c) => print(await c.call('usersSetRole', { did, role: Role.parse(role) }))),
  );

  clientCommand(program, 'remove-user <did>', 'remove a user at once (the host operator, without --key, may remove an owner)').action((did: string, o: Connection) =>
    withClient(o, async (c) => print(await c.call('usersRemove', { did }))),
  );

  clientCommand(program, 'rename-user <did> <name>', "change a user's name (names are set once at joining; only an admin renames)").action((did: string, name: string, o: Connection) =>
    withClient(o, async (c) => print(await c.call('usersRename', { did, name }))),
  );

  clientCommand(program, 'grant <user>', 'let a user dispatch capabilities on one agent or all (signed delegation certificate)')
    .requiredOption('--agent <did>', 'an agent DID, or * for every agent')
    .requiredOption('--capabilities <list>', `comma-separated (${CAPABILITIES.join(',')})`)
    .option('--valid-days <n>', 'how long the grant holds', '30')
    .action((user: string, o: Connection & { agent: string; capabilities: string; validDays: string }) =>
      withClient(o, async (c) =>
        print(await c.call('grantsCreate', { user, agent: o.agent, capabilities: capabilities(o.capabilities), validForMs: Math.round(positive(o.validDays, '--valid-days') * DAY_MS) })),
      ),
    );

  clientCommand(program, 'ungrant <id>', 'revoke a grant at once (pushed to connected agents)').action((id: string, o: Connection) =>
    withClient(o, async (c) => print(await c.call('grantsRevoke', { id }))),
  );

  clientCommand(program, 'agents', 'list agents and their registration state').action((o: Connection) =>
    withClient(o, async (c) => print(await allPages((cursor) => c.call('agentsList', { limit: PAGE, cursor })))),
  );

  const policyOptions = (command: Command) => {
    command
      .requiredOption('--capabilities <list>', `comma-separated (${CAPABILITIES.join(',')})`)
      .option('--approval-required <list>', 'capabilities that need a reviewer', '')
      .option('--max-requests-per-hour <n>', 'hourly request limit', '60')
      .option('--max-tokens-per-day <n>', 'daily token budget', '100000')
      .option('--valid-days <n>', 'policy lifetime in days', '30')
      .option('--allowed-domains <list>', "hosts its commands (through the agent's proxy) and http_fetch may reach, comma-separated: a.example.com,*.npmjs.org (omitted: none, no network)")
      .option('--rules-file <file>', 'allow / ask / deny rules, a JSON document (see examples/rules/); none removes them (omitted: a change keeps the current rules, an approval sets none)')
      .option('--widen', 'allow granting more than the agent asked for');
    // Omitted, a limit keeps the agent's current one (the widest at approval): a change never silently widens a limit.
    for (const field of LIMIT_FIELDS) {
      const max = formatLimit(field.kind, MAX_COMMAND_LIMITS[field.key]);
      command.option(`--${field.flag} <${field.kind === 'bytes' ? 'size' : 'n'}>`, `per command: ${field.label}${field.kind === 'bytes' ? ' (K, M, G suffixes)' : ''}, at most ${max} (omitted: unchanged)`);
    }
    return command;
  };
  type PolicyOptions = Connection & {
    capabilities: string;
    approvalRequired: string;
    maxRequestsPerHour: string;
    maxTokensPerDay: string;
    validDays: string;
    allowedDomains?: string;
    rulesFile?: string;
    widen?: boolean;
  } & Record<string, unknown>;
  const policyOf = (o: PolicyOptions): PolicyInput => {
    const domains = parseDomainList(o.allowedDomains ?? '');
    if (!domains.ok) throw new Error(`--allowed-domains: ${domains.problem}`);
    const commandLimits: Partial<CommandLimits> = {};
    for (const field of LIMIT_FIELDS) {
      const text = o[camelCase(field.flag)];
      if (typeof text !== 'string') continue;
      const limit = parseLimit(field, text, MAX_COMMAND_LIMITS[field.key]);
      if (!limit.ok) throw new Error(`--${field.flag}: ${limit.problem}`);
      commandLimits[field.key] = limit.value;
    }
    return {
      capabilities: capabilities(o.capabilities),
      approvalRequired: capabilities(o.approvalRequired),
      maxRequestsPerHour: Number(o.maxRequestsPerHour),
      maxTokensPerDay: Number(o.maxTokensPerDay),
      validForMs: Math.round(positive(o.validDays, '--valid-days') * DAY_MS),
      allowedDomains: domains.domains,
      commandLimits,
      ...(o.rulesFile === undefined ? {} : { rules: rulesFile(o.rulesFile) }),
    };
  };

  // The policy is read before connecting: a mistyped domain or size is refused without touching the broker.
  policyOptions(clientCommand(program, 'approve <did>', 'approve a pending agent with capabilities and limits')).action((did: string, o: PolicyOptions) => {
    const policy = policyOf(o);
    return withClient(o, async (c) => print(await c.call('registrationsApprove', { did, widen: Boolean(o.widen), policy })));
  });

  const policy = program.command('policy').description("change an agent's policy, or test what it decides for a call");
  // The default subcommand: `policy <did> --capabilities …` keeps working as `policy set <did> …`.
  policyOptions(clientCommand(policy, 'set <did>', "change an approved agent's policy (it renews its certificate)", { isDefault: true })).action((did: string, o: PolicyOptions) => {
    const input = policyOf(o);
    return withClient(o, async (c) => print(await c.call('policySet', { did, widen: Boolean(o.widen), policy: input })));
  });

  clientCommand(policy, 'test <agent> <capability> <params>', 'dry run: which gate or rule would decide this call (params: JSON object), without sending anything')
    .option('--as <user>', 'the DID of the user to test as (admins only; default: you)')
    // Only the dry run takes --via: `dispatch` has none, so a person at the command line cannot pose as a model.
    .option('--via <origin>', 'test it as if a model dispatched it: vscode-lm, or mcp:<client name> (rules with chosenBy "model" then apply)')
    .option('--json', 'print the whole answer as JSON')
    .action((agent: string, capability: string, params: string, o: Connection & { as?: string; via?: string; json?: boolean }) => {
      const call = { agent, capability: capabilities(capability)[0]!, params: jsonObject(params), ...(o.as ? { as: o.as } : {}), ...(o.via ? { via: o.via } : {}) };
      return withClient(o, async (c) => {
        const result = await c.call('policyTest', call);
        if (o.json) print(result);
        else process.stdout.write(policyTestText(result));
        if (result.verdict === 'refused') process.exitCode = 2;
      });
    });

  clientCommand(program, 'reject <did>', 'reject a pending agent (sticky: it is refused from then on)')
    .requiredOption('--reason <text>', 'why, for the audit log')
    .action((did: string, o: Connection & { reason: string }) => withClient(o, async (c) => print(await c.call('registrationsReject', { did, reason: o.reason }))));

  clientCommand(program, 'revoke <did>', 'revoke an agent at once (sticky)')
    .requiredOption('--reason <text>', 'why, for the audit log')
    .action((did: string, o: Connection & { reason: string }) => withClient(o, async (c) => print(await c.call('agentsRevoke', { did, reason: o.reason }))));

  clientCommand(program, 'dispatch <agent> <capability> [params]', "sign and send an intent, wait for the agent's signed result and print it (params: JSON object)")
    .option('--timeout <seconds>', 'how long to wait for the result', '60')
    .action((agent: string, capability: string, params: string | undefined, o: Connection & { timeout: string }) =>
      withClient(o, async (c) => {
        const call = { agent, capability: capabilities(capability)[0]!, params: jsonObject(params ?? '{}') };
        const result = await dispatchAndWait(c, call, {
          timeoutMs: positive(o.timeout, '--timeout') * 1000,
          onProgress: (p) => {
            if (p.stream !== 'status') process.stderr.write(p.text);
          },
        });
        print(result);
        if (result.state !== 'succeeded') process.exitCode = 2;
      }),
    );

  clientCommand(program, 'intents', 'list recent intents, newest first, a page at a time (summaries; `intent <id>` shows one in full)')
    .option('--agent <did>', 'only this agent')
    .option('--limit <n>', `how many (at most ${PAGE})`, '20')
    .option('--cursor <cursor>', 'the page after the one that printed this cursor')
    .action((o: Connection & { agent?: string; limit: string; cursor?: string }) =>
      withClient(o, async (c) => {
        const page = await c.call('intentsList', { agent: o.agent, limit: Number(o.limit), cursor: o.cursor });
        print(page.items);
        if (page.nextCursor) process.stderr.write(`more: add --cursor ${page.nextCursor}\n`);
      }),
    );

  clientCommand(program, 'intent <id>', 'show one intent in full: its output and signed envelopes').action((id: string, o: Connection) =>
    withClient(o, async (c) => print(await c.call('intentsGet', { id }))),
  );

  clientCommand(program, 'approvals', 'list tool calls waiting for (or decided by) reviewers')
    .option('--state <state>', 'pending, approved, rejected or expired', 'pending')
    .option('--wait <seconds>', 'wait up to this long until there is at least one')
    .option('--ids-only', 'print only the request ids, one per line')
    .action((o: Connection & { state: 'pending' | 'approved' | 'rejected' | 'expired'; wait?: string; idsOnly?: boolean }) =>
      withClient(o, async (c) => {
        const deadline = Date.now() + (o.wait ? positive(o.wait, '--wait') * 1000 : 0);
        const all = () => allPages((cursor) => c.call('approvalsList', { state: o.state, limit: PAGE, cursor }));
        let list = await all();
        while (list.length === 0 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 200));
          list = await all();
        }
        if (o.idsOnly) process.stdout.write(list.map((a) => `${a.requestId}\n`).join(''));
        else print(list);
      }),
    );

  clientCommand(program, 'decide <requestId> <decision>', 'approve or reject a tool call, signed with your own key')
    .option('--reason <text>', 'why (shown to the requester)')
    .action((requestId: string, decision: string, o: Connection & { reason?: string }) =>
      withClient(o, async (c, user) => {
        if (decision !== 'approve' && decision !== 'reject') throw new Error('decision must be approve or reject');
        if (!user) throw new Error('a decision is signed with your own key: pass --key');
        const request = await c.call('approvalsGet', { requestId });
        const body: ApprovalDecisionBody = {
          requestId,
          intentId: request.intentId,
          agent: request.agent,
          decision,
          reason: o.reason ?? null,
          reviewer: user.did,
          decidedAt: Date.now(),
        };
        const envelope = seal(user, 'vaultysclaw/approval-decision/v1', body);
        print(await c.call('approvalsDecide', { payload: Buffer.from(envelope.payload).toString('base64'), signature: Buffer.from(envelope.signature).toString('base64') }));
      }),
    );
}
