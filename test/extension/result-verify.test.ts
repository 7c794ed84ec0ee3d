// The result view against a real broker and a real agent: read_file, list_files and run_command dispatched from
// the extension's own session, their progress taken from the broker's notifications (as the panel does), their
// detail from intents/get, and what the view shows built from that. Then Verify: both signatures checked here,
// offline, against the broker's pinned id and the agent's id (agents/get); one flipped byte of the signed result,
// an output altered after signing, or another agent's key, and Verify says the result does not hold.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import type { IntentDetail } from '../../core/rpc/views';
import { generateUserIdentity } from '../../extension/identity/user-key';
import { LiveModel } from '../../extension/model/live-model';
import { envelopeDocument, verifyEnvelopes, type SignerIds } from '../../extension/results/envelope-check';
import { ProgressLog } from '../../extension/results/progress-log';
import { resultView } from '../../extension/results/result-view-model';
import { startAgent, waitFor } from '../support/processes';
import { connectLocal } from './support/local';
import { endedAfterEach } from './support/started';

const { launched, agents, dirs } = endedAfterEach();

/** Flips one bit of one byte of a base64 field, in the middle of the payload. */
function flipped(base64: string): string {
  const bytes = Buffer.from(base64, 'base64');
  bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
  return bytes.toString('base64');
}

describe('result view and Verify against a real broker and agent', () => {
  test('each tool reads as text, a table or a document; Verify holds, and catches a flipped byte of the signed result', async () => {
    const owner = await connectLocal({ launched, name: 'alice' });
    dirs.push(dirname(owner.dataDir));
    const model = new LiveModel();
    await model.attach(owner.session);
    const progress = new ProgressLog();
    model.onIntentProgress((p) => progress.add(p));
    const info = await owner.session.call('brokerInfo', {});

    const agent = await startAgent({ brokerUrl: info.hubUrl!, brokerDid: info.did, name: 'builder' });
    agents.push(agent);
    dirs.push(agent.stateDir, agent.workspace);
    mkdirSync(join(agent.workspace, 'src'));
    const source = 'export const answer = 42;\n// "quoted" and\ttabbed\n';
    writeFileSync(join(agent.workspace, 'src', 'answer.ts'), source);
    writeFileSync(join(agent.workspace, 'notes.txt'), 'x'.repeat(2048));
    await waitFor('the registration', () => model.agent(agent.did)?.status === 'pending');
    await owner.session.call('registrationsApprove', { did: agent.did, policy: { capabilities: ['read_file', 'list_files', 'run_command'] } });
    await waitFor('the agent online', () => model.agent(agent.did)?.online && model.agent(agent.did)?.status === 'approved');
    await owner.session.call('grantsCreate', { user: owner.session.user.did, agent: '*', capabilities: ['read_file', 'list_files', 'run_command'], validForMs: 3_600_000 });

    const run = async (capability: 'read_file' | 'list_files' | 'run_command', params: Record<string, unknown>): Promise<IntentDetail> => {
      const sent = await owner.session.call('intentsDispatch', { agent: agent.did, capability, params });
      model.noteIntent(sent);
      await model.waitForFinal(sent.id, { timeoutMs: 60_000 });
      return owner.session.call('intentsGet', { id: sent.id });
    };
    const view = (detail: IntentDetail) =>
      resultView({ intent: detail, progress: progress.entries(detail.id), approvals: [], nameOf: (did) => model.agent(did)?.name ?? model.user(did)?.name, now: Date.now(), locale: 'en-US' });

    // read_file: the file's text as it is (no JSON escapes), for a document named after it.
    const read = await run('read_file', { path: 'src/answer.ts' });
    assert.equal(read.state, 'succeeded', `${read.state} ${read.message ?? ''}`);
    const readView = view(read);
    assert.equal(readView.title, 'read_file src/answer.ts');
    assert.equal(readView.agent.name, 'builder');
    assert.equal(readView.requester.name, 'alice');
    assert.deepEqual(readView.body, { kind: 'file', path: 'src/answer.ts', size: `${Buffer.byteLength(source)} B`, truncated: false, lineCount: 3, content: source });

    // list_files: a table of name, type and size.
    const list = await run('list_files', { path: '.' });
    const listView = view(list);
    assert.equal(listView.body.kind, 'listing');
    assert.deepEqual(listView.body.kind === 'listing' && listView.body.rows, [
      { name: 'notes.txt', type: 'file', size: '2 KiB' },
      { name: 'src', type: 'directory', size: '' },
    ]);

    // run_command: stdout and stderr as text with real line breaks, the exit code and the duration; streamed first.
    const command = await run('run_command', { command: 'sh', args: ['-c', 'printf "one\\ntwo\\n"; echo oops >&2; exit 3'], cwd: '.', timeoutMs: 30_000 });
    assert.equal(command.state, 'succeeded', `${command.state} ${command.message ?? ''}`);
    await waitFor('the streamed stdout', () => progress.entries(command.id).some((p) => p.stream === 'stdout'));
    const live = resultView({ intent: { ...command, state: 'running', output: null }, progress: progress.entries(command.id), approvals: [], nameOf: () => undefined, now: Date.now(), locale: 'en-US' });
    assert.equal(live.body.kind === 'command' && live.body.stdout, 'one\ntwo\n', 'while it runs, the stdout streamed so far');
    assert.equal(live.body.kind === 'command' && live.body.exit, null);
    const commandView = view(command);
    assert.equal(commandView.body.kind, 'command');
    if (commandView.body.kind !== 'command') return;
    assert.equal(commandView.body.commandLine, `sh -c 'printf "one\\ntwo\\n"; echo oops >&2; exit 3'`);
    assert.equal(commandView.body.stdout, 'one\ntwo\n');
    assert.equal(commandView.body.stderr, 'oops\n');
    assert.equal(commandView.body.exit, 'exit code 3');
    assert.match(commandView.body.duration ?? '', /^\d[\d.,]* (ms|s)$/);
    assert.equal(commandView.problem, null, 'the tool ran: its exit code says how the command did');

    // A refusal reads as the agent's sentence, not its code.
    const escape = await run('read_file', { path: '../outside.txt' });
    assert.equal(escape.state, 'rejected');
    assert.equal(escape.reason, 'path-escape');
    const escapeView = view(escape);
    assert.equal(escapeView.problem, 'The agent refused it: "../outside.txt" leads outside the workspace root.');
    assert.doesNotMatch(escapeView.problem ?? '', /path-escape/);
    assert.deepEqual(escapeView.body, { kind: 'none', text: 'There is no output.' });

    // Verify, with the ids the extension has: the broker's (pinned in the session) and the agent's (agents/get).
    const agentView = await owner.session.call('agentsGet', { did: agent.did });
    assert.ok(agentView.id, 'the broker gives the agent\'s public id');
    const ids: SignerIds = { brokerId: info.id, pinnedBrokerDid: owner.session.brokerDid, agentId: agentView.id };
    for (const detail of [read, list, command]) {
      const ok = verifyEnvelopes(detail, ids);
      assert.equal(ok.intent.holds, true, ok.intent.sentence);
      assert.equal(ok.result.holds, true, ok.result.sentence);
      assert.match(ok.result.sentence, new RegExp(`^The signed result holds: signed by ${agent.did}`));
    }

    // One flipped byte of the signed result: the result does not hold, the intent still does.
    const tampered = { ...read, signedResult: { ...read.signedResult!, payload: flipped(read.signedResult!.payload) } };
    const caught = verifyEnvelopes(tampered, ids);
    assert.equal(caught.intent.holds, true);
    assert.equal(caught.result.holds, false);
    assert.match(caught.result.sentence, /^The signed result does NOT hold: signature does not verify with did:vaultys:/);

    // A flipped byte of the signature itself, likewise; and of the signed intent, the intent does not hold.
    assert.equal(verifyEnvelopes({ ...read, signedResult: { ...read.signedResult!, signature: flipped(read.signedResult!.signature) } }, ids).result.holds, false);
    assert.equal(verifyEnvelopes({ ...read, signedIntent: { ...read.signedIntent!, payload: flipped(read.signedIntent!.payload) } }, ids).intent.holds, false);

    // The output shown differs from the output signed (a broker that altered it after checking): caught.
    const altered = verifyEnvelopes({ ...read, output: { ...read.output, content: 'export const answer = 43;\n' } }, ids);
    assert.equal(altered.result.holds, false);
    assert.match(altered.result.sentence, /the output shown here differs from the output the agent signed/);

    // Another key named as the agent's: its DID is not the intent's agent, so it is refused before any signature.
    const stranger = generateUserIdentity().id.toBase64();
    assert.match(verifyEnvelopes(read, { ...ids, agentId: stranger }).result.sentence, /could not be checked: the agent's id given by the broker is did:vaultys:\w+, not /);
    // A broker id that is not the pinned one: the intent is not taken as checked.
    assert.equal(verifyEnvelopes(read, { ...ids, brokerId: stranger }).intent.holds, false);
    // A signed result of another intent, swapped in: valid signature, wrong intent.
    const swapped = verifyEnvelopes({ ...read, signedResult: list.signedResult }, ids);
    assert.equal(swapped.result.holds, false);
    assert.match(swapped.result.sentence, /does NOT hold for this intent: it answers intent /);

    // Show Signed Envelope: both envelopes decoded to readable JSON.
    const doc = JSON.parse(envelopeDocument(read, caught)) as { signedIntent: { ctx: string; body: { id: string; params: unknown } }; signedResult: { ctx: string; body: { output: { content: string } } }; verified: { result: string } };
    assert.equal(doc.signedIntent.ctx, 'vaultysclaw/intent/v1');
    assert.deepEqual(doc.signedIntent.body.params, { path: 'src/answer.ts' });
    assert.equal(doc.signedResult.ctx, 'vaultysclaw/result/v1');
    assert.equal(doc.signedResult.body.output.content, source);
    assert.match(doc.verified.result, /does NOT hold/);
  });
});
