// The extension's plain modules, no broker needed: settings checks, the enrollment line (run for real),
// intent parameters, policy choices, broker log lines, the approval page's CSP, user keys, tree text.
import { MAX_COMMAND_LIMITS } from '../../core/policy/command-limits';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { BUDGETS } from '../../core/budgets';
import { IdType, SecretIdentity } from '../../core/identity';
import type { AgentView, ApprovalView, IntentSummary, UserView } from '../../core/rpc/views';
import { approvalHtml } from '../../extension/approval/approval-html';
import { makeNonce } from '../../extension/webview/webview-page';
import { cannotDecide, panelState, paramsForDisplay, parseWebviewMessage } from '../../extension/approval/panel-controller';
import { lastComplaint, LineSplitter, parseBrokerLogLine } from '../../extension/connection/broker-log';
import { describeRpcError, needsInvitation } from '../../extension/connection/broker-session';
import { notOwnerMessage, roleChangeMessage } from '../../extension/connection/role-change';
import { rpcUrl } from '../../core/wire/broker-url';
import { agentHubUrl, enrollmentCommands, shellQuote } from '../../extension/enrollment';
import { decodeUserSecret, encodeUserSecret, generateUserIdentity } from '../../extension/identity/user-key';
import { buildParams, checkAnswer, parseArgs } from '../../extension/intent-params';
import { activityTree, intentOutcome, whoMustAct } from '../../extension/model/activity-tree';
import { agentDetails, agentGroup, agentNode, agentsTree } from '../../extension/model/agents-tree';
import { approvalsTree, toolSummary } from '../../extension/model/approvals-tree';
import { newerIntent } from '../../extension/model/live-model';
import { ago, md, until } from '../../extension/model/tree-node';
import { asksHostRules, checkDomains, checkLimit, initialDomains, initialLimits, policyFromAnswers, widening } from '../../extension/policy-choice';
import type { Capability, Confinement } from '../../core/wire/policy';
import { validateSettings, type RawSettings } from '../../extension/settings';
import { removeDirs, ROOT, tempDir } from '../support/processes';
import { RpcError } from '../../core/rpc/rpc-error';

const DID = `did:vaultys:00${'ab'.repeat(19)}`;
const raw = (over: Partial<RawSettings>): RawSettings => ({
  brokerMode: 'local', brokerUrl: '', brokerDid: '', allowPlainWs: false, brokerCaFile: '', brokerTlsPin: '', nodePath: '', dataDir: '', hubPort: 8080, stalenessWindow: 300, userName: '', ...over,
});

function agent(over: Partial<AgentView> = {}): AgentView {
  return {
    did: DID, name: 'a', status: 'approved', statusReason: null, requested: ['read_file'], online: true,
    policy: { status: 'approved', policyId: 'p', policyVersion: 2, capabilities: ['read_file'], approvalRequired: [], maxTokensPerDay: 10, maxRequestsPerHour: 5, policyExpiresAt: Date.now() + 86_400_000 * 3, approvalTimeoutMs: 60_000, allowedDomains: [], commandLimits: MAX_COMMAND_LIMITS },
    confinement: null, usage: { requestsLastHour: 1, tokensToday: 0 }, firstSeen: 0, lastSeen: Date.now(), ...over,
  };
}

describe('settings', () => {
  test('vaultysclaw.userName is checked against the broker\'s name budget (BUDGETS.userNameBytes) before it is sent', () => {
    const atBound = 'é'.repeat(BUDGETS.userNameBytes.limit / 2);
    assert.equal(validateSettings(raw({ userName: atBound })).ok, true);
    const over = validateSettings(raw({ userName: `${atBound}x` }));
    assert.ok(!over.ok && over.problems.some((p) => /vaultysclaw\.userName: a name is at most 256 bytes of UTF-8/.test(p)), JSON.stringify(over));
    const invisible = validateSettings(raw({ userName: '\u200B\u202E' }));
    assert.ok(!invisible.ok && invisible.problems.some((p) => /needs a visible character/.test(p)));
  });

  test('local mode by default, with the hub port and staleness window checked', () => {
    const ok = validateSettings(raw({ brokerMode: undefined }));
    assert.ok(ok.ok && ok.settings.mode === 'local' && ok.settings.hubPort === 8080 && ok.settings.stalenessMs === 300_000 && ok.settings.dataDir === null);
    const bad = validateSettings(raw({ hubPort: 70000, nodePath: 'node', dataDir: 'rel/dir', stalenessWindow: 0 }));
    assert.ok(!bad.ok);
    assert.equal(bad.problems.length, 4);
    assert.match(bad.problems.join(' '), /nodePath must be an absolute path.*stalenessWindow.*dataDir must be an absolute path.*hubPort/);
  });

  test('remote mode needs a ws(s) URL and a broker DID or fingerprint to pin', () => {
    const missing = validateSettings(raw({ brokerMode: 'remote' }));
    assert.ok(!missing.ok);
    assert.match(missing.problems.join(' '), /brokerUrl is empty.*brokerDid must be/);
    assert.ok(!validateSettings(raw({ brokerMode: 'remote', brokerUrl: 'https://x', brokerDid: DID })).ok);
    const fingerprint = DID.slice('did:vaultys:'.length).toUpperCase().match(/.{4}/g)!.join(' ');
    const ok = validateSettings(raw({ brokerMode: 'remote', brokerUrl: 'wss://broker.example:8080', brokerDid: fingerprint }));
    assert.ok(ok.ok && ok.settings.mode === 'remote' && ok.settings.brokerDid === DID, 'a fingerprint pins the same DID');
    assert.ok(!validateSettings(raw({ brokerMode: 'cloud' })).ok);
  });

  test('remote mode refuses plain ws:// to a host that is not loopback unless allowPlainWs is on', () => {
    const plain = validateSettings(raw({ brokerMode: 'remote', brokerUrl: 'ws://10.0.0.7:8080', brokerDid: DID }));
    assert.ok(!plain.ok);
    assert.match(plain.problems.join(' '), /brokerUrl: refusing plain ws:\/\/ to 10\.0\.0\.7.*vaultysclaw\.allowPlainWs/);
    assert.ok(validateSettings(raw({ brokerMode: 'remote', brokerUrl: 'ws://10.0.0.7:8080', brokerDid: DID, allowPlainWs: true })).ok);
    assert.ok(validateSettings(raw({ brokerMode: 'remote', brokerUrl: 'ws://127.0.0.1:8080', brokerDid: DID })).ok, 'loopback stays allowed');
  });

  test('remote mode checks the TLS settings: an absolute CA file, a SHA-256 pin normalised', () => {
    const remote = { brokerMode: 'remote', brokerUrl: 'wss://broker.example:8443', brokerDid: DID };
    const bad = validateSettings(raw({ ...remote, brokerCaFile: 'ca.pem', brokerTlsPin: 'ab:cd' }));
    assert.ok(!bad.ok);
    assert.match(bad.problems.join(' '), /brokerCaFile must be an absolute path.*brokerTlsPin must be the SHA-256 fingerprint/);
    const pin = 'ab:'.repeat(31) + 'ab';
    const ok = validateSettings(raw({ ...remote, brokerCaFile: '/etc/team-ca.pem', brokerTlsPin: pin }));
    assert.ok(ok.ok && ok.settings.mode === 'remote');
    assert.deepEqual(ok.settings.tls, { caFile: '/etc/team-ca.pem', pinSha256: 'AB'.repeat(32) });
    const none = validateSettings(raw(remote));
    assert.ok(none.ok && none.settings.mode === 'remote' && none.settings.tls === null, 'no TLS settings: the system CAs');
  });
});

describe('enrollment command', () => {
  test('prints init pinned to the DID and start with the hub URL, and the init line works as printed', () => {
    const lines = enrollmentCommands({ brokerDid: DID, hubUrl: 'ws://127.0.0.1:8080' });
    assert.equal(lines.init, `node dist/agent.js init --broker ${DID}`);
    assert.equal(lines.start, 'node dist/agent.js start --broker-url ws://127.0.0.1:8080');
    assert.equal(enrollmentCommands({ brokerDid: DID, hubUrl: 'wss://b:1', workspace: '/srv/my build', capabilities: ['read_file', 'list_files'] }).start, "node dist/agent.js start --broker-url wss://b:1 --workspace '/srv/my build' --request read_file,list_files");
    const state = tempDir('enroll');
    try {
      const [cmd, ...args] = lines.init.split(' ');
      assert.equal(cmd, 'node');
      const run = spawnSync(process.execPath, [...args, '--state-dir', state], { cwd: ROOT, encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, new RegExp(`pinned:\\s+${DID}`));
    } finally {
      removeDirs(state);
    }
  });

  test('gives agents a dialable hub URL', () => {
    assert.equal(agentHubUrl('ws://0.0.0.0:8080', null), 'ws://127.0.0.1:8080');
    assert.equal(agentHubUrl('ws://127.0.0.1:8080', 'wss://broker.example:8443/'), 'wss://broker.example:8443');
    assert.equal(agentHubUrl(null, null), null);
    assert.equal(rpcUrl('wss://b:1/'), 'wss://b:1/rpc');
    assert.equal(rpcUrl('wss://b:1/rpc'), 'wss://b:1/rpc');
    assert.equal(shellQuote("it's"), `'it'\\''s'`);
  });
});

describe('intent parameters', () => {
  test('are built and checked against the tool schemas before anything is signed', () => {
    assert.deepEqual(buildParams('read_file', { path: 'README.md' }), { ok: true, params: { path: 'README.md' } });
    assert.deepEqual(buildParams('run_command', { command: 'ls', args: '["-la", "a b"]', cwd: '', timeoutSeconds: '5' }), { ok: true, params: { command: 'ls', args: ['-la', 'a b'], cwd: '.', timeoutMs: 5000 } });
    assert.deepEqual(parseArgs('  -l   -a '), ['-l', '-a']);
    assert.throws(() => parseArgs('[1,2]'), /JSON array of strings/);
    const bad = buildParams('write_file', { path: 'x', content: 'y', mode: 'append' });
    assert.ok(!bad.ok && /mode/.test(bad.problem));
    assert.ok(!buildParams('run_command', { command: 'ls', args: '', cwd: '.', timeoutSeconds: '-1' }).ok);
    assert.deepEqual(buildParams('llm_task', { instruction: 'List the sources', tools: 'list_files, read_file', maxSteps: '5' }), {
      ok: true,
      params: { instruction: 'List the sources', tools: ['list_files', 'read_file'], maxSteps: 5 },
    });
    assert.deepEqual(buildParams('llm_task', { instruction: 'Tidy up', tools: '', maxSteps: '' }), { ok: true, params: { instruction: 'Tidy up' } });
    const blank = buildParams('llm_task', { instruction: '   ', tools: '', maxSteps: '' });
    assert.ok(!blank.ok && /instruction/.test(blank.problem));
    const nested = buildParams('llm_task', { instruction: 'x', tools: 'llm_task', maxSteps: '' });
    assert.ok(!nested.ok && /tools/.test(nested.problem), 'a task cannot start another task');
    assert.match(checkAnswer('llm_task', 'tools', 'read_file, rm') ?? '', /not a task tool: rm/);
    assert.equal(checkAnswer('llm_task', 'maxSteps', '0'), 'a positive whole number, or empty');
    assert.equal(checkAnswer('read_file', 'path', ' '), 'read_file needs a path');
    assert.equal(checkAnswer('run_command', 'args', '["ok"]'), undefined);
    assert.deepEqual(buildParams('http_fetch', { method: 'POST', url: 'https://api.example.com/v1', body: '{"a":1}', timeoutSeconds: '10' }), {
      ok: true,
      params: { method: 'POST', url: 'https://api.example.com/v1', body: '{"a":1}', timeoutMs: 10_000 },
    });
    assert.deepEqual(buildParams('http_fetch', { method: 'GET', url: 'https://api.example.com/', body: '', timeoutSeconds: '30' }), { ok: true, params: { method: 'GET', url: 'https://api.example.com/', timeoutMs: 30_000 } }, 'no body: none sent');
    assert.equal(checkAnswer('http_fetch', 'url', 'api.example.com/v1'), 'an absolute http:// or https:// URL');
    assert.equal(checkAnswer('http_fetch', 'url', 'ftp://api.example.com/'), 'an absolute http:// or https:// URL');
    assert.equal(checkAnswer('http_fetch', 'timeoutSeconds', String(BUDGETS.httpFetchMs.limit / 1000)), undefined, 'BUDGETS.httpFetchMs is allowed');
    assert.equal(checkAnswer('http_fetch', 'timeoutSeconds', String(BUDGETS.httpFetchMs.limit / 1000 + 1)), 'at most 30 seconds');
    assert.equal(checkAnswer('run_command', 'timeoutSeconds', '31'), undefined, 'a command has its own, longer bound');
  });
});

describe('policy choices', () => {
  test('widening is what was not requested; approval-required stays within the grant', () => {
    assert.deepEqual(widening(['read_file', 'run_command'], ['read_file']), ['run_command']);
    const built = policyFromAnswers({ capabilities: ['read_file'], approvalRequired: ['read_file', 'write_file'], maxRequestsPerHour: '10', maxTokensPerDay: '0', validDays: '1' }, agent());
    assert.ok(built.ok);
    assert.deepEqual(built.policy, { capabilities: ['read_file'], approvalRequired: ['read_file'], maxRequestsPerHour: 10, maxTokensPerDay: 0, validForMs: 86_400_000, allowedDomains: [], commandLimits: {} });
    const bad = policyFromAnswers({ capabilities: [], approvalRequired: [], maxRequestsPerHour: '1.5', maxTokensPerDay: '0', validDays: '1' }, agent());
    assert.ok(!bad.ok && /requests per hour/.test(bad.problem));
  });

  const base = { approvalRequired: [] as Capability[], maxRequestsPerHour: '10', maxTokensPerDay: '0', validDays: '1' };
  const withRules = (policy: Partial<NonNullable<AgentView['policy']>>) => agent({ policy: { ...agent().policy!, ...policy } });

  test('allowed domains and limits are asked only when a granted tool runs commands or fetches, and start from the current policy in human units', () => {
    assert.equal(asksHostRules(['read_file', 'write_file']), false);
    assert.equal(asksHostRules(['read_file', 'http_fetch']), true);
    assert.equal(asksHostRules(['llm_task']), true);
    const current = withRules({ allowedDomains: ['api.example.com', '*.npmjs.org'], commandLimits: { ...MAX_COMMAND_LIMITS, memoryBytes: 512 * 1024 * 1024, cpuSeconds: 30 } });
    assert.equal(initialDomains(current), 'api.example.com, *.npmjs.org');
    assert.equal(initialDomains(agent({ policy: null })), '', 'a new agent starts with no network');
    assert.deepEqual(initialLimits(current), { cpuSeconds: '30 s', memoryBytes: '512 MiB', processes: '256', fileBytes: '1 GiB', workspaceWriteBytes: '2 GiB' });
    assert.deepEqual(initialLimits(agent({ policy: null })).memoryBytes, '4 GiB', 'the widest at approval');

    // What the editor shows is what it sends back, untouched.
    const kept = policyFromAnswers({ ...base, capabilities: ['run_command'], allowedDomains: initialDomains(current), commandLimits: initialLimits(current) }, current);
    assert.ok(kept.ok);
    assert.deepEqual(kept.policy.allowedDomains, ['api.example.com', '*.npmjs.org']);
    assert.deepEqual(kept.policy.commandLimits, current.policy!.commandLimits);
  });

  test('typed domains are lower-cased and checked, sizes take K/M/G, and domains not asked stay as they are', () => {
    const current = withRules({ allowedDomains: ['keep.example.com'] });
    const limits = { cpuSeconds: '60', memoryBytes: '2G', processes: '32', fileBytes: '100M', workspaceWriteBytes: '512 MiB' };
    const built = policyFromAnswers({ ...base, capabilities: ['run_command'], allowedDomains: ' API.example.com,, *.npmjs.org ', commandLimits: limits }, current);
    assert.ok(built.ok);
    assert.deepEqual(built.policy.allowedDomains, ['api.example.com', '*.npmjs.org']);
    assert.deepEqual(built.policy.commandLimits, { cpuSeconds: 60, memoryBytes: 2 * 1024 ** 3, processes: 32, fileBytes: 100 * 1024 ** 2, workspaceWriteBytes: 512 * 1024 ** 2 });
    const none = policyFromAnswers({ ...base, capabilities: ['run_command'], allowedDomains: '', commandLimits: limits }, current);
    assert.ok(none.ok && none.policy.allowedDomains!.length === 0, 'emptied: no network');
    const notAsked = policyFromAnswers({ ...base, capabilities: ['read_file'] }, current);
    assert.ok(notAsked.ok);
    assert.deepEqual(notAsked.policy.allowedDomains, ['keep.example.com'], 'a file-only edit keeps the domains');
    assert.deepEqual(notAsked.policy.commandLimits, {}, 'and leaves the limits to the broker, which keeps them');

    assert.match(checkDomains('10.0.0.1') ?? '', /is an IP address/);
    assert.match(checkDomains('https://api.example.com/x') ?? '', /is a URL: give only its host name \(api\.example\.com\)/);
    assert.match(checkDomains('api.example.com:443') ?? '', /names a port/);
    assert.equal(checkDomains('api.example.com, *.npmjs.org'), undefined);
    const atBound = Array.from({ length: BUDGETS.allowedDomains.limit }, (_, i) => `h${i}.example.com`);
    assert.equal(checkDomains(atBound.join(',')), undefined, 'BUDGETS.allowedDomains domains are fine');
    assert.match(checkDomains([...atBound, 'one.more.example'].join(',')) ?? '', /at most 64/);
    assert.match(checkLimit('memoryBytes', '5G') ?? '', /at most 4 GiB/);
    assert.match(checkLimit('memoryBytes', 'lots') ?? '', /a size such as 512M or 2G/);
    assert.match(checkLimit('processes', '1.5') ?? '', /a whole number above 0/);
    const refused = policyFromAnswers({ ...base, capabilities: ['run_command'], allowedDomains: '127.0.0.1', commandLimits: limits }, current);
    assert.ok(!refused.ok && /IP address/.test(refused.problem));
  });
});

describe('broker log lines', () => {
  test('pino levels map to log levels; anything else is an error line kept whole', () => {
    assert.deepEqual(parseBrokerLogLine('{"level":40,"time":1,"component":"broker","event":"auth.refused","reason":"x","msg":"user handshake refused"}'), { level: 'warn', text: '[auth.refused] user handshake refused {"reason":"x"}' });
    assert.deepEqual(parseBrokerLogLine('{"level":30,"msg":"hi"}'), { level: 'info', text: 'hi' });
    assert.deepEqual(parseBrokerLogLine('Error: listen EADDRINUSE'), { level: 'error', text: 'Error: listen EADDRINUSE' });
    assert.equal(parseBrokerLogLine('   '), undefined);
    assert.match(lastComplaint(['node:events:502', 'Error: listen EADDRINUSE: address already in use 127.0.0.1:8080', '}']), /hub port is taken: set vaultysclaw\.hubPort/);
    assert.equal(lastComplaint(['x', 'Error: database is locked', 'Node.js v20']), ' — Error: database is locked');
    assert.equal(lastComplaint([]), '');
    const split = new LineSplitter();
    assert.deepEqual(split.push('a\nb'), ['a']);
    assert.deepEqual(split.push('c\n'), ['bc']);
  });
});

describe('the approval page', () => {
  test('allows only its nonce\'d script and styles and the webview\'s own resources', () => {
    const nonce = makeNonce();
    assert.match(nonce, /^[A-Za-z0-9]{16,}$/);
    assert.notEqual(nonce, makeNonce());
    const html = approvalHtml({ cspSource: 'https://csp.example', nonce, scriptUri: 'https://csp.example/approval.js', title: 'Approve "x" <y>' });
    const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)?.[1] ?? '';
    assert.match(csp, /^default-src 'none'; /);
    assert.match(csp, new RegExp(`script-src 'nonce-${nonce}'`));
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
    assert.match(html, new RegExp(`<script nonce="${nonce}" src="https://csp.example/approval.js"></script>`));
    assert.equal((html.match(/<script/g) ?? []).length, 1, 'one script, no inline code');
    assert.match(html, /<title>Approve &quot;x&quot; &lt;y><\/title>/);
    assert.match(html, /var\(--vscode-editor-background\)/);
  });

  test('messages from the webview are checked; decisions are refused when they cannot apply', () => {
    assert.ok(parseWebviewMessage({ type: 'ready' }).ok);
    assert.ok(!parseWebviewMessage({ type: 'decide', decision: 'maybe', reason: '' }).ok);
    assert.ok(!parseWebviewMessage({ type: 'ready', extra: 1 }).ok);
    assert.ok(!parseWebviewMessage('ready').ok);
    const approval: ApprovalView = {
      requestId: 'a'.repeat(32), intentId: 'b'.repeat(32), agent: DID, user: `did:vaultys:01${'cd'.repeat(19)}`, capability: 'run_command',
      params: { command: 'rm', args: ['-rf', 'build'] }, cwd: '/srv', requestedAt: 1, expiresAt: Date.now() + 60_000, state: 'pending', decidedBy: null, reason: null, decidedAt: null, reviewersRequired: 1, approvals: [], modelCall: false, paramsTruncated: false,
    };
    const reviewer = { did: `did:vaultys:01${'ef'.repeat(19)}`, name: 'r', role: 'reviewer' as const };
    assert.equal(cannotDecide(approval, reviewer, true, Date.now()), null);
    assert.match(cannotDecide(approval, reviewer, false, Date.now()) ?? '', /disconnected/);
    assert.match(cannotDecide({ ...approval, paramsTruncated: true }, reviewer, true, Date.now()) ?? '', /shown cut/, 'nobody approves a request a list showed cut');
    assert.match(cannotDecide(approval, { ...reviewer, role: 'operator' }, true, Date.now()) ?? '', /role \(operator\) cannot decide/);
    assert.match(cannotDecide(approval, { ...reviewer, did: approval.user }, true, Date.now()) ?? '', /somebody else/);
    assert.match(cannotDecide({ ...approval, expiresAt: 5 }, reviewer, true, Date.now()) ?? '', /timed out/);
    assert.match(cannotDecide({ ...approval, state: 'approved' }, reviewer, true, Date.now()) ?? '', /already approved/);
    assert.equal(toolSummary('run_command', approval.params), 'rm -rf build');
    const long = 'x'.repeat(200_000);
    assert.deepEqual(paramsForDisplay({ content: long, n: 3 }), [
      { name: 'content', text: long, multiline: true },
      { name: 'n', text: '3', multiline: false },
    ]);
  });
});

describe('user keys', () => {
  test('round-trip as key-file text, and only person ids are accepted', () => {
    const id = generateUserIdentity();
    assert.equal(decodeUserSecret(`${encodeUserSecret(id)}\n`).did, id.did);
    assert.throws(() => decodeUserSecret(encodeUserSecret(SecretIdentity.generate(IdType.Machine))), /machine id/);
    assert.throws(() => decodeUserSecret('not a key!'), /not a VaultysClaw user key/);
    assert.throws(() => decodeUserSecret(Buffer.from('short').toString('base64')), /not a VaultysClaw user key/);
  });
});

describe('tree text', () => {
  test('groups agents by state and escapes the names agents choose for themselves', () => {
    const now = Date.now();
    const hostile = agent({ name: '[click](command:vaultysclaw.revokeAgent)', status: 'pending', policy: null });
    assert.equal(agentGroup(hostile), 'pending');
    const node = agentNode(hostile, now);
    assert.ok(!node.tooltip!.includes('[click](command:'), 'no link survives in the tooltip');
    assert.equal(md('a_b*c'), 'a\\_b\\*c');
    const tree = agentsTree([agent({ did: `did:vaultys:00${'01'.repeat(19)}`, name: 'b' }), agent({ name: 'a', online: false }), hostile, agent({ did: `did:vaultys:00${'02'.repeat(19)}`, status: 'revoked', statusReason: 'gone' })], now);
    assert.deepEqual(tree.map((g) => [g.label, g.description]), [['Online', '1 agent'], ['Offline', '1 agent'], ['Pending registration', '1 agent'], ['Revoked', '1 agent']]);
    assert.equal(ago(now - 90_000, now), '1 min ago');
    assert.equal(until(now + 3 * 86_400_000, now), 'in 3 d');
    assert.match(until(now - 7_200_000, now), /^expired 2 h ago$/);
  });

  test('each agent says whether its commands are confined, its network rule and its limits narrowed to its host\'s ceilings', () => {
    const now = Date.now();
    const ceilings = { ...MAX_COMMAND_LIMITS, memoryBytes: 1024 ** 3, processes: 32 };
    const policy = { ...agent().policy!, allowedDomains: ['api.example.com', '*.npmjs.org'], commandLimits: { ...MAX_COMMAND_LIMITS, cpuSeconds: 30 } };
    const with_ = (confinement: Confinement | null, over: Partial<AgentView> = {}) => agent({ confinement, policy, ...over });
    const row = (a: AgentView, label: string) => agentDetails(a, now).find((r) => r.label === label);

    const confined = with_({ mode: 'sandboxed', detail: 'bubblewrap 0.8.0', ceilings });
    assert.equal(row(confined, 'Commands')?.description, 'confined (bubblewrap)');
    assert.equal(row(confined, 'Commands')?.icon?.id, 'lock');
    assert.equal(row(confined, 'Network')?.description, "through the agent's proxy to: api.example.com, *.npmjs.org");
    assert.equal(row(confined, 'Limits')?.description, 'CPU 30 s · memory 1 GiB · 32 processes · files 1 GiB · writes 2 GiB per intent', 'the policy narrowed to the host ceilings');
    assert.match(row(confined, 'Limits')?.tooltip ?? '', /- Memory: 1 GiB \\\(policy 4 GiB, narrowed to the agent host's ceiling\\\)/);
    assert.match(row(confined, 'Limits')?.tooltip ?? '', /- CPU seconds: 30 s\n/);
    assert.doesNotMatch(agentNode(confined, now).description ?? '', /UNCONFINED|unavailable/);

    const unconfined = with_({ mode: 'unconfined', detail: 'started with --unconfined-commands', ceilings });
    assert.equal(row(unconfined, 'Commands')?.description, 'UNCONFINED');
    assert.deepEqual(row(unconfined, 'Commands')?.icon, { id: 'warning', color: 'notificationsWarningIcon.foreground' });
    assert.match(agentNode(unconfined, now).description ?? '', / · UNCONFINED · [0-9A-F ]{19}$/, 'said on the agent\'s own row');
    assert.match(agentNode(unconfined, now).tooltip ?? '', /Commands: \*\*UNCONFINED\*\*/);

    const broken = with_({ mode: 'unavailable', detail: 'bwrap is not on the PATH\u202E: apt install bubblewrap', ceilings });
    assert.equal(row(broken, 'Commands')?.description, 'sandbox unavailable: bwrap is not on the PATH⟨U+202E⟩: apt install bubblewrap', 'the agent\'s words, invisible characters shown');
    assert.equal(row(broken, 'Commands')?.icon?.id, 'error');
    assert.match(agentNode(broken, now).description ?? '', / · sandbox unavailable · [0-9A-F ]{19}$/);

    const older = with_(null, { policy: { ...policy, allowedDomains: [] } });
    assert.equal(row(older, 'Commands')?.description, 'unknown (agent older than 0.3.0)');
    assert.equal(row(older, 'Network')?.description, 'no network');
    assert.equal(row(older, 'Limits')?.description, 'CPU 30 s · memory 4 GiB · 256 processes · files 1 GiB · writes 2 GiB per intent', 'no ceilings stated: the policy\'s own');
    assert.match(agentNode(older, now).tooltip ?? '', /Network: no network/);

    const pending = with_({ mode: 'unconfined', detail: '', ceilings }, { status: 'pending', policy: null });
    assert.equal(row(pending, 'Commands')?.description, 'UNCONFINED', 'an admin sees it before approving');
    assert.equal(row(pending, 'Network'), undefined);
  });

  test('an http_fetch reads as its method and URL in the approvals and the review panel', () => {
    assert.equal(toolSummary('http_fetch', { method: 'POST', url: 'https://api.example.com/v1\u200B', timeoutMs: 5000 }), 'POST https://api.example.com/v1⟨U+200B⟩');
  });

  test('intents say who refused and why, and newer views win', () => {
    const base = { id: 'c'.repeat(32), agent: DID, capability: 'read_file', params: {}, paramsTruncated: false, user: DID, outcome: null, reason: null, rejectedBy: null, message: null, createdAt: 1000, updatedAt: 1000 } as const;
    const sent: IntentSummary = { ...base, state: 'sent' };
    const rejected: IntentSummary = { ...base, state: 'rejected', reason: 'capability-not-granted', rejectedBy: 'agent', updatedAt: 1000 };
    assert.equal(intentOutcome(rejected, 300_000, 2000), 'rejected by agent: capability-not-granted');
    assert.equal(intentOutcome(sent, 300_000, 1000 + 300_001), 'sent (stale: past the staleness window)');
    assert.equal(intentOutcome(sent, 300_000, 1000 + 300_001, 'bob'), 'waiting for approval by bob', 'a paused intent is held by its agent, not stale');
    assert.equal(intentOutcome(rejected, 300_000, 2000, 'bob'), 'rejected by agent: capability-not-granted', 'a final state wins over a leftover approval');
    const escaped: IntentSummary = { ...rejected, reason: 'path-escape', message: 'path ../etc/passwd leaves the workspace' };
    assert.equal(intentOutcome(escaped, 300_000, 2000), 'rejected by agent: path ../etc/passwd leaves the workspace', 'the sentence, not the code');
    const [row] = activityTree([escaped], { names: { agent: () => undefined, user: () => undefined }, approvals: [], users: [], stalenessMs: 300_000, now: 2000 });
    assert.match(row!.description!, /^rejected by agent: path \.\.\/etc\/passwd leaves the workspace · /);
    assert.match(row!.tooltip!, /Reason code: `path-escape`/, 'the code stays one hover away');
    assert.equal(newerIntent(rejected, sent), false, 'a final state is not overwritten by an earlier one at the same time');
    assert.equal(newerIntent(sent, rejected), true);
  });

  test('who must act on a paused call: reviewers, admins and owners other than the requester', () => {
    const user = (n: number, name: string, role: UserView['role'], removed = false): UserView => ({ did: `did:vaultys:${String(n).repeat(40)}`, name, role, roleSetBy: null, invitedBy: null, removed, createdAt: 0, lastSeen: 0 });
    const alice = user(1, 'alice', 'operator');
    const owner = user(2, 'olga', 'owner');
    const approval = { requestId: 'a'.repeat(32), intentId: 'b'.repeat(32), agent: DID, user: owner.did, capability: 'write_file', params: {}, cwd: '/w', requestedAt: 0, expiresAt: 1, state: 'pending', decidedBy: null, reason: null, decidedAt: null, paramsTruncated: false, reviewersRequired: 1, approvals: [] as ApprovalView['approvals'], modelCall: false } as const;
    const names = { agent: () => undefined, user: (did: string) => [alice, owner].find((u) => u.did === did) };
    assert.equal(whoMustAct(approval, [alice, owner, user(3, 'bob', 'reviewer'), user(4, 'carol', 'admin'), user(5, 'dan', 'reviewer', true), user(6, 'vic', 'viewer')], names), 'bob or carol');
    assert.equal(whoMustAct({ ...approval, user: alice.did }, [alice, owner, user(3, 'bob', 'reviewer'), user(4, 'carol', 'admin'), user(7, 'eve', 'reviewer')], names), 'bob, carol, eve or 1 more');
    assert.equal(whoMustAct(approval, [], names), 'a reviewer, admin or owner other than olga (2222 2222 2222 2222)', 'without the user list, at least who cannot');
  });

  test('Spoofed names: U+202E, U+200B and C0/C1 controls are shown, and every name a decision depends on carries its fingerprint', () => {
    const now = Date.now();
    const twinDid = `did:vaultys:00${'cd'.repeat(19)}`;
    const realAgent = agent({ name: 'build-1', status: 'pending', policy: null });
    const lookAlike = agent({ did: twinDid, name: 'bui\u200Bld-1', status: 'pending', policy: null });
    const requester: UserView = { did: `did:vaultys:01${'ef'.repeat(19)}`, name: 'mallory\u202Eecila', role: 'operator', roleSetBy: null, invitedBy: null, removed: false, createdAt: 0, lastSeen: 0 };
    const names = { agent: (did: string) => [realAgent, lookAlike].find((a) => a.did === did), user: (did: string) => (did === requester.did ? requester : undefined) };
    const approval: ApprovalView = {
      requestId: 'a'.repeat(32), intentId: 'b'.repeat(32), agent: twinDid, user: requester.did, capability: 'write_file',
      params: { path: 'notes\u202Etxt.sh', content: 'line\nnext\x1b[2J\x85' }, cwd: '/w\u2066', requestedAt: now, expiresAt: now + 60_000,
      state: 'pending', decidedBy: null, reason: null, decidedAt: null, reviewersRequired: 1, approvals: [], modelCall: false, paramsTruncated: false,
    };
    const [row] = approvalsTree([approval], names, now);
    assert.equal(row!.label, 'write_file notes⟨U+202E⟩txt.sh');
    assert.equal(row!.description, 'mallory⟨U+202E⟩ecila (01EF EFEF EFEF EFEF) · just now · on bui⟨U+200B⟩ld-1 (00CD CDCD CDCD CDCD)');
    assert.doesNotMatch(JSON.stringify(row), /[\u202E\u200B\u2066]/u, 'nothing invisible reaches the row or its tooltip');

    const intent: IntentSummary = {
      id: 'b'.repeat(32), agent: twinDid, capability: 'write_file', params: approval.params, user: requester.did, state: 'failed', outcome: null, reason: null,
      rejectedBy: null, message: 'done\u202E', createdAt: now, updatedAt: now, paramsTruncated: false,
    };
    const [activity] = activityTree([intent], { names, approvals: [], users: [requester], stalenessMs: 300_000, now });
    assert.equal(activity!.description, 'failed: done⟨U+202E⟩ · bui⟨U+200B⟩ld-1 (00CD CDCD CDCD CDCD) · just now');
    assert.ok(activity!.tooltip!.includes(`by ${md('mallory⟨U+202E⟩ecila (01EF EFEF EFEF EFEF)')}`), activity!.tooltip);

    const pending = agentsTree([realAgent, lookAlike], now)[0]!.children!;
    assert.deepEqual(
      pending.map((n) => [n.label, n.description]),
      [
        ['build-1', 'waiting for approval · online · asks read_file · 00AB ABAB ABAB ABAB'],
        ['bui⟨U+200B⟩ld-1', 'waiting for approval · online · asks read_file · 00CD CDCD CDCD CDCD'],
      ],
      'two look-alike registrations read differently, each with its fingerprint',
    );

    const panel = panelState(approval, { names, reviewer: { did: DID, name: 'rev', role: 'reviewer' }, connected: true, busy: false, error: null, notice: null, now });
    assert.equal(panel.requester.name, 'mallory⟨U+202E⟩ecila (01EF EFEF EFEF EFEF)');
    assert.equal(panel.agent.name, 'bui⟨U+200B⟩ld-1 (00CD CDCD CDCD CDCD)');
    assert.equal(panel.cwd, '/w⟨U+2066⟩');
    assert.deepEqual(panel.params.find((p) => p.name === 'content')?.text, 'line\nnext⟨U+001B⟩[2J⟨U+0085⟩', 'line breaks stay the layout of a file');
  });

  test('a change of the user\'s own standing is told, with the new role and who set it; nothing is said when nothing changed', () => {
    const me: UserView = { did: DID, name: 'dev', role: 'admin', roleSetBy: `did:vaultys:01${'11'.repeat(19)}`, invitedBy: null, removed: false, createdAt: 0, lastSeen: 0 };
    assert.deepEqual(roleChangeMessage('team', { role: 'owner', removed: false }, me, 'olga (0111 1111 1111 1111)'), {
      warning: true,
      text: 'VaultysClaw: your role on team is now admin (was owner), by olga (0111 1111 1111 1111). What you can do changes at once.',
    });
    assert.equal(roleChangeMessage('team', { role: 'viewer', removed: false }, me, undefined)?.warning, false, 'a promotion is news, not a warning');
    assert.equal(roleChangeMessage('team', { role: 'admin', removed: false }, me, undefined), undefined);
    assert.match(roleChangeMessage('team', { role: 'admin', removed: false }, { ...me, removed: true }, 'olga')!.text, /you were removed from team, by olga/);
    assert.equal(notOwnerMessage('owner', [], DID, '/d'), undefined);
  });

  test('broker errors read as sentences, and invitations are recognised', () => {
    const err = Object.assign(new Error('role viewer may not call vaultysclaw/intents/dispatch'), { code: -32003 });
    assert.equal(describeRpcError(err), 'not allowed: role viewer may not call vaultysclaw/intents/dispatch');
    // Recognised by the reason the broker sends, whatever its words; the words alone are not enough (issue 15).
    assert.ok(needsInvitation(new RpcError('invitation-needed', 'peer-refused: you are not a user of this broker: ask an admin for an invitation')));
    assert.ok(needsInvitation(new RpcError('invitation-invalid', 'any words')));
    assert.ok(!needsInvitation(new Error('peer-refused: you are not a user of this broker: ask an admin for an invitation')));
    assert.ok(!needsInvitation(new RpcError('handshake-refused', 'bad signature')));
  });
});

