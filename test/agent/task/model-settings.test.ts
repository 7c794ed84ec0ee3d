import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { MODEL_OPTION_DEFAULTS, modelSettingsFrom, type ModelOptions } from '../../../agent/task/model-settings';
import { initAgent, removeDirs, ROOT, tempDir } from '../../support/processes';

const KEY = 'sk-settings-test-0123456789abcdef';
const base = tempDir('model-settings');
const workspace = join(base, 'ws');
mkdirSync(workspace);
after(() => removeDirs(base));

const options = (over: Partial<ModelOptions>): ModelOptions => ({ modelUrl: 'http://127.0.0.1:9/v1/', model: 'm', ...MODEL_OPTION_DEFAULTS, ...over });
const keyFile = (name: string, mode: number, dir = base) => {
  const path = join(dir, name);
  writeFileSync(path, `${KEY}\n`);
  chmodSync(path, mode);
  return path;
};

describe('the agent host\'s model settings', () => {
  test('read the key from a 0600 file or an environment variable, and clamp the task limits to the wire\'s ceilings', () => {
    const fromFile = modelSettingsFrom(options({ modelKeyFile: keyFile('ok.key', 0o600), taskMaxSteps: '1000' }), workspace);
    assert.deepEqual(fromFile, {
      endpoint: { baseUrl: 'http://127.0.0.1:9/v1', model: 'm', apiKey: KEY, maxCompletionTokens: 4096 },
      limits: { maxSteps: 100, timeLimitMs: 600_000, maxOutputChars: 16_384 },
    });
    assert.equal(modelSettingsFrom(options({ modelKeyEnv: 'VC_KEY' }), workspace, { VC_KEY: KEY })?.endpoint.apiKey, KEY);
    assert.equal(modelSettingsFrom(options({}), workspace)?.endpoint.apiKey, null, 'a local endpoint may need no key');
    assert.equal(modelSettingsFrom({ ...MODEL_OPTION_DEFAULTS }, workspace), undefined, 'no model, no tasks');
  });

  test('refuse a key file others can read, naming the fix and never the key', () => {
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      const path = keyFile(`open-${mode.toString(8)}.key`, mode);
      assert.throws(
        () => modelSettingsFrom(options({ modelKeyFile: path }), workspace),
        (err: Error) => err.message === `--model-key-file ${path} can be read by others (mode ${mode.toString(8)}); run chmod 600 ${path}`,
      );
    }
  });

  test('refuse a key file inside the workspace, even through a symlink from outside, where the model\'s read_file could reach it', () => {
    const inside = keyFile('inside.key', 0o600, workspace);
    assert.throws(() => modelSettingsFrom(options({ modelKeyFile: inside }), workspace), /is inside the workspace/);
    const link = join(base, 'link.key');
    symlinkSync(inside, link);
    assert.throws(() => modelSettingsFrom(options({ modelKeyFile: link }), workspace), /is inside the workspace/);
  });

  test('refuse what would put the key where it could leak or leave it ambiguous', () => {
    const refusals: [Partial<ModelOptions>, NodeJS.ProcessEnv, RegExp][] = [
      [{ modelUrl: `https://user:${KEY}@api.example/v1` }, {}, /must not carry credentials/],
      [{ modelKeyEnv: 'VC_UNSET' }, {}, /VC_UNSET: that environment variable is empty or unset/],
      [{ modelKeyEnv: 'VC_KEY', modelKeyFile: join(base, 'ok.key') }, { VC_KEY: KEY }, /not both/],
      [{ modelKeyFile: join(base, 'missing.key') }, {}, /ENOENT/],
      [{ modelUrl: 'file:///etc/passwd' }, {}, /http or https/],
      [{ model: undefined }, {}, /needs --model/],
      [{ taskMaxSteps: '2.5' }, {}, /--task-max-steps must be a positive whole number/],
    ];
    for (const [over, env, message] of refusals) {
      assert.throws(() => modelSettingsFrom(options(over), workspace, env), (err: Error) => message.test(err.message) && !err.message.includes(KEY), String(message));
    }
    assert.throws(() => modelSettingsFrom({ ...MODEL_OPTION_DEFAULTS, model: 'm' }, workspace), /need --model-url/);
  });

  test('`agent start` exits with the error before it connects anywhere', () => {
    const { stateDir } = initAgent(`did:vaultys:${'0'.repeat(40)}`, tempDir('model-settings-agent'));
    const path = keyFile('cli.key', 0o644);
    const run = spawnSync(
      process.execPath,
      [join(ROOT, 'dist', 'agent.js'), 'start', '--state-dir', stateDir, '--broker-url', 'ws://127.0.0.1:9', '--workspace', workspace, '--request', 'llm_task', '--model-url', 'http://127.0.0.1:9/v1', '--model', 'm', '--model-key-file', path],
      { encoding: 'utf8', timeout: 20_000 },
    );
    const noModel = spawnSync(process.execPath, [join(ROOT, 'dist', 'agent.js'), 'start', '--state-dir', stateDir, '--broker-url', 'ws://127.0.0.1:9', '--request', 'llm_task'], { encoding: 'utf8', timeout: 20_000 });
    removeDirs(stateDir);
    assert.equal(run.status, 1, run.stderr);
    assert.equal(run.stderr, `agent: --model-key-file ${path} can be read by others (mode 644); run chmod 600 ${path}\n`);
    assert.equal(noModel.status, 1);
    assert.equal(noModel.stderr, 'agent: llm_task needs a model: give --model-url and --model\n');
  });
});
