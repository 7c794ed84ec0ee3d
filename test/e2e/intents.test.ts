// End to end: intents from a real broker process to real agent processes. The four tools, progress
// streamed as the command runs, sandbox refusals, and the rule that an intent never silently vanishes:
// offline agents, agents killed mid-command and broker restarts all leave a final, persisted state.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Notifications } from '../../core/rpc/methods';
import { FINAL_INTENT_STATES, type IntentView } from '../../core/rpc/views';
import { tempDir, waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen();

const ALL_TOOLS = ['read_file', 'list_files', 'write_file', 'run_command'] as const;
const CANARY = 'outside the workspace: must never change\n';
/** A short grace period: an agent that stays away ends its intents lost-agent within a second. */
const GRACE = ['--lost-agent-grace', '1'];

describe('intents end to end', () => {
  const started = new Started();
  let broker: BrokerProcess;
  let agent: AgentProcess;
  /** base/ws is the workspace; base/outside is a canary next to it, one `..` away. */
  let base: string;
  let canary: string;
  /** Final views of intents seen by earlier tests, checked again after a broker restart. */
  const finals = new Map<string, IntentView>();

  const finalIntent = async (id: string, timeoutMs = 10_000): Promise<IntentView> => {
    const view = await waitFor(
      `intent ${id} to reach a final state`,
      async () => {
        const v = await broker.client.call('intentsGet', { id });
        return FINAL_INTENT_STATES.includes(v.state) ? v : undefined;
      },
      timeoutMs,
    );
    finals.set(id, view);
    return view;
  };

  const dispatch = (target: AgentProcess, capability: IntentView['capability'], params: Record<string, unknown>) =>
    broker.client.call('intentsDispatch', { agent: target.did, capability, params });

  const run = async (capability: IntentView['capability'], params: Record<string, unknown>, target = agent) =>
    finalIntent((await dispatch(target, capability, params)).id);

  const expectSucceeded = (view: IntentView) => {
    assert.equal(view.state, 'succeeded', `${view.capability} ended ${view.state}: ${view.reason} ${view.message}`);
    assert.ok(view.signedIntent && view.signedResult, 'both envelopes are kept');
    return view.output ?? assert.fail('a succeeded intent has an output');
  };

  /** A fresh agent on the suite's broker, approved for every tool. */
  const approvedAgent = async (workspace?: string) => {
    const a = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, ...(workspace ? { workspace } : {}) });
    await waitFor('the agent to be a pending, online registration', async () =>
      (await broker.client.call('registrationsList', {})).items.find((r) => r.did === a.did && r.online),
    );
    await broker.client.call('registrationsApprove', { did: a.did, policy: { capabilities: [...ALL_TOOLS], maxRequestsPerHour: 100 } });
    await a.log.waitFor('auth.succeeded', (l) => l.policyVersion === 1);
    return a;
  };

  before(async () => {
    base = tempDir('intents');
    started.dirs.push(base);
    mkdirSync(join(base, 'ws', 'src'), { recursive: true });
    writeFileSync(join(base, 'ws', 'hello.txt'), 'Hello, agent.\n');
    writeFileSync(join(base, 'ws', 'src', 'main.ts'), 'export {};\n');
    canary = join(base, 'outside');
    writeFileSync(canary, CANARY);
    broker = await started.broker({ args: GRACE });
    agent = await approvedAgent(join(base, 'ws'));
  });
  after(() => started.cleanup());

  test('read_file returns the content and size of a workspace file', async () => {
    const output = expectSucceeded(await run('read_file', { path: 'hello.txt' }));
    assert.deepEqual(output, { content: 'Hello, agent.\n', bytes: 14, truncated: false });
  });

  test('list_files lists a workspace directory, sorted, with types and sizes', async () => {
    const output = expectSucceeded(await run('list_files', { path: '.' }));
    assert.deepEqual(output, {
      entries: [
        { name: 'hello.txt', type: 'file', size: 14 },
        { name: 'src', type: 'directory', size: null },
      ],
      truncated: false,
    });
  });

  test('write_file creates a new file, refuses to create over it, and replaces it in overwrite mode', async () => {
    const target = join(base, 'ws', 'src', 'notes.txt');
    const created = expectSucceeded(await run('write_file', { path: 'src/notes.txt', content: 'first\n', mode: 'create' }));
    assert.deepEqual(created, { bytesWritten: 6, path: 'src/notes.txt' });
    assert.equal(readFileSync(target, 'utf8'), 'first\n');

    const again = await run('write_file', { path: 'src/notes.txt', content: 'clobber\n', mode: 'create' });
    assert.equal(again.state, 'failed', 'create never replaces an existing file');
    assert.match(again.message ?? '', /already exists/);
    assert.equal(readFileSync(target, 'utf8'), 'first\n');

    const replaced = expectSucceeded(await run('write_file', { path: 'src/notes.txt', content: 'second, longer\n', mode: 'overwrite' }));
    assert.deepEqual(replaced, { bytesWritten: 15, path: 'src/notes.txt' });
    assert.equal(readFileSync(target, 'utf8'), 'second, longer\n');
  });

  test('run_command runs a program without a shell and returns its exit code and output', async () => {
    const output = expectSucceeded(await run('run_command', { command: 'echo', args: ['$(id)', ';', 'hello'], cwd: 'src', timeoutMs: 5000 }));
    assert.equal(output.exitCode, 0);
    assert.equal(output.stdout, '$(id) ; hello\n', 'arguments reach the program as text, unexpanded');
    assert.equal(output.stderr, '');
    assert.equal(output.timedOut, false);

    const pwd = expectSucceeded(await run('run_command', { command: 'pwd', args: [], cwd: 'src', timeoutMs: 5000 }));
    assert.match(String(pwd.stdout), /\/src\n$/, 'the command runs in the requested workspace directory');

    const failing = expectSucceeded(await run('run_command', { command: 'sh', args: ['-c', 'echo oops >&2; exit 7'], cwd: '.', timeoutMs: 5000 }));
    assert.equal(failing.exitCode, 7, 'a non-zero exit is reported, not hidden');
    assert.equal(failing.stderr, 'oops\n');
  });

  test('a long command streams signed progress to clients before its final result', async () => {
    const events: { kind: 'progress' | 'changed'; intentId: string; stream?: string; text?: string; seq?: number; state?: string }[] = [];
    const onProgress = broker.client.connection.onNotification(Notifications.intentProgress.method, (raw: unknown) => {
      const p = Notifications.intentProgress.params.parse(raw);
      events.push({ kind: 'progress', intentId: p.intentId, stream: p.stream, text: p.text, seq: p.seq });
    });
    const onChanged = broker.client.connection.onNotification(Notifications.intentChanged.method, (raw: unknown) => {
      const { intent } = Notifications.intentChanged.params.parse(raw);
      events.push({ kind: 'changed', intentId: intent.id, state: intent.state });
    });
    try {
      const script = 'echo one; sleep 0.4; echo two; sleep 0.4; echo three';
      const dispatched = await dispatch(agent, 'run_command', { command: 'sh', args: ['-c', script], cwd: '.', timeoutMs: 10_000 });
      const done = await finalIntent(dispatched.id);
      const output = expectSucceeded(done);
      assert.equal(output.stdout, 'one\ntwo\nthree\n');
      await waitFor('the final intentChanged notification', () =>
        events.some((e) => e.kind === 'changed' && e.intentId === done.id && e.state === 'succeeded'),
      );

      const mine = events.filter((e) => e.intentId === done.id);
      const progress = mine.filter((e) => e.kind === 'progress');
      assert.ok(progress.length >= 4, `expected progress for the start and three lines, got ${JSON.stringify(progress)}`);
      assert.deepEqual(progress.map((p) => p.seq), progress.map((_, i) => i), 'progress arrives in order, numbered from 0');
      assert.equal(progress[0]?.stream, 'status');
      assert.match(progress[0]?.text ?? '', /started/);
      assert.equal(progress.filter((p) => p.stream === 'stdout').map((p) => p.text).join(''), 'one\ntwo\nthree\n');
      const firstProgress = mine.findIndex((e) => e.kind === 'progress');
      const running = mine.findIndex((e) => e.kind === 'changed' && e.state === 'running');
      const final = mine.findIndex((e) => e.kind === 'changed' && e.state === 'succeeded');
      assert.ok(running >= 0, 'the intent was reported running');
      assert.ok(firstProgress < final && running < final, 'progress and the running state came before the final result');
      // The stdout chunks arrived spread over time, not all at once at the end.
      const stdoutIndexes = mine.flatMap((e, i) => (e.kind === 'progress' && e.stream === 'stdout' ? [i] : []));
      assert.ok(stdoutIndexes.length >= 3, 'each line was streamed as it was printed');
    } finally {
      onProgress.dispose();
      onChanged.dispose();
    }
  });

  test('a path that climbs out of the workspace is rejected by the agent as path-escape and the file outside is untouched', async () => {
    const read = await run('read_file', { path: '../outside' });
    assert.equal(read.state, 'rejected');
    assert.equal(read.reason, 'path-escape');
    assert.equal(read.rejectedBy, 'agent');
    assert.equal(read.output, null, 'nothing of the outside file is returned');
    assert.ok(read.signedResult, 'the agent signed its refusal');

    for (const mode of ['overwrite', 'create'] as const) {
      const write = await run('write_file', { path: '../outside', content: 'pwned\n', mode });
      assert.equal(write.state, 'rejected', `write_file (${mode}) ended ${write.state}: ${write.message}`);
      assert.equal(write.reason, 'path-escape');
      assert.equal(write.rejectedBy, 'agent');
    }
    const deeper = await run('write_file', { path: 'src/../../outside', content: 'pwned\n', mode: 'overwrite' });
    assert.equal(deeper.reason, 'path-escape');
    const cwd = await run('run_command', { command: 'ls', args: [], cwd: '..', timeoutMs: 5000 });
    assert.equal(cwd.reason, 'path-escape', 'a command cannot start outside the workspace either');

    assert.equal(readFileSync(canary, 'utf8'), CANARY, 'the canary outside the workspace is untouched');
  });

  test('parameters that do not match the tool are refused by the broker as bad-params, before anything is signed', async () => {
    const view = await dispatch(agent, 'write_file', { path: 'x.txt', content: 'hi', mode: 'append' });
    assert.equal(view.state, 'rejected');
    assert.equal(view.reason, 'bad-params');
    assert.equal(view.rejectedBy, 'broker');
    assert.equal((await finalIntent(view.id)).signedIntent, null);
  });

  test('an intent to an approved agent that is offline is refused by the broker as agent-offline', async () => {
    const offline = await approvedAgent();
    await offline.stop();
    await waitFor('the broker to see the agent offline', async () => !(await broker.client.call('agentsGet', { did: offline.did })).online);

    const view = await dispatch(offline, 'list_files', { path: '.' });
    assert.equal(view.state, 'rejected');
    assert.equal(view.reason, 'agent-offline');
    assert.equal(view.rejectedBy, 'broker');
    assert.equal((await finalIntent(view.id)).signedIntent, null, 'nothing was signed or sent');
  });

  test('an agent killed -9 in the middle of a command, and not restarted, leaves its intent lost-agent once the grace period ends', async () => {
    const doomed = await approvedAgent();
    const dispatched = await dispatch(doomed, 'run_command', { command: 'sleep', args: ['5'], cwd: '.', timeoutMs: 20_000 });
    await waitFor('the command to be running', async () => (await broker.client.call('intentsGet', { id: dispatched.id })).state === 'running');
    await doomed.kill();

    const startedAt = Date.now();
    const lost = await finalIntent(dispatched.id, 4000);
    assert.equal(lost.state, 'lost-agent');
    assert.equal(lost.signedResult, null);
    assert.ok(lost.signedIntent, 'the intent was signed and sent before the agent died');
    assert.ok(Date.now() - startedAt < 4000, 'the loss is noticed after the grace period, not when the command would have finished');
    assert.ok(broker.log.find('intent.lost', (l) => l.intentId === dispatched.id), 'the loss is audited');
  });

  test('final intent states are persisted: after a broker restart intentsGet returns the same views, and an intent in flight when the broker died ends with the signed result the agent kept', async () => {
    // One more in flight at the moment the broker is killed.
    const inFlight = await dispatch(agent, 'run_command', { command: 'sleep', args: ['3'], cwd: '.', timeoutMs: 20_000 });
    await waitFor('the command to be running', async () => (await broker.client.call('intentsGet', { id: inFlight.id })).state === 'running');
    assert.ok(finals.size >= 8, `earlier tests recorded final intents (${finals.size})`);
    const states = new Set([...finals.values()].map((v) => v.state));
    for (const state of ['succeeded', 'failed', 'rejected', 'lost-agent']) assert.ok(states.has(state as IntentView['state']), `an intent ended ${state}`);

    const { dataDir, url } = broker;
    await broker.kill();
    broker = await started.broker({ dataDir, port: Number(new URL(url).port), args: ['--lost-agent-grace', '20'] });

    for (const [id, before] of finals) {
      assert.deepEqual(await broker.client.call('intentsGet', { id }), before, `intent ${id} (${before.state}) is unchanged`);
    }
    const listed = (await broker.client.call('intentsList', { agent: agent.did })).items;
    assert.ok(listed.some((v) => v.id === inFlight.id));

    // The agent reconnects within the grace period, gets the intent again (it is still running it, so it
    // does not run it twice) and answers with its signed result; the final state does not change again.
    await waitFor('the agent to reconnect to the restarted broker', async () => (await broker.client.call('agentsGet', { did: agent.did })).online, 15_000);
    const answered = await finalIntent(inFlight.id, 15_000);
    assert.equal(answered.state, 'succeeded', `${answered.state}: ${answered.message}`);
    assert.ok(answered.signedResult, 'the signed result reached the restarted broker');
    assert.equal(agent.log.lines.filter((l) => l.event === 'intent.executing' && l.intentId === inFlight.id).length, 1, 'run once');
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(await broker.client.call('intentsGet', { id: inFlight.id }), answered, 'a final state is final');
  });
});

describe('an agent whose old connection was replaced', () => {
  const started = new Started();
  after(() => started.cleanup());

  test('an intent in flight on a connection replaced by a newer one of the same agent still ends, answered by the new process, when the old one dies', async () => {
    const broker = await started.broker({ args: GRACE });
    const first = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did });
    await waitFor('the agent to be a pending, online registration', async () =>
      (await broker.client.call('registrationsList', {})).items.find((r) => r.did === first.did && r.online),
    );
    await broker.client.call('registrationsApprove', { did: first.did, policy: { capabilities: [...ALL_TOOLS] } });
    await first.log.waitFor('auth.succeeded', (l) => l.policyVersion === 1);

    const dispatched = await broker.client.call('intentsDispatch', {
      agent: first.did,
      capability: 'run_command',
      params: { command: 'sleep', args: ['5'], cwd: '.', timeoutMs: 20_000 },
    });
    await waitFor('the command to be running', async () => (await broker.client.call('intentsGet', { id: dispatched.id })).state === 'running');

    // The host froze (a half-open connection the broker cannot tell from a live one), and the agent
    // was started again with the same identity: the broker replaces the old connection with the new one.
    first.child.kill('SIGSTOP');
    const second = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, stateDir: first.stateDir, workspace: first.workspace });
    assert.equal(second.did, first.did);
    await second.log.waitFor('auth.succeeded', (l) => l.policyVersion === 1);
    // Now the old process dies for good, taking the command it had in hand with it.
    await first.kill();

    // Nothing can ever answer this intent: it must end, not stay "running" while the agent is online.
    const view = await waitFor(
      `intent ${dispatched.id} to reach a final state`,
      async () => {
        const v = await broker.client.call('intentsGet', { id: dispatched.id });
        return FINAL_INTENT_STATES.includes(v.state) ? v : undefined;
      },
      8000,
    ).catch(async (err: Error) => {
      const v = await broker.client.call('intentsGet', { id: dispatched.id });
      assert.fail(`${err.message}; the intent is still "${v.state}" with its agent online (${String((await broker.client.call('agentsGet', { did: first.did })).online)})`);
    });
    // The new process found the intent claimed by the frozen one and unanswered: it reports that with a
    // signed failure and never runs it a second time.
    assert.equal(view.state, 'failed', `${view.state}: ${view.message}`);
    assert.match(view.message ?? '', /stopped while it held this intent/);
    assert.ok(view.signedResult);
    assert.equal(second.log.find('intent.executing', (l) => l.intentId === dispatched.id), undefined, 'never run twice');
  });
});
