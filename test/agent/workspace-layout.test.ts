// Issue 13, finding 6: the layouts in which the agent's own tools would reach its key or pin, on real directories.
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { AgentStateDir } from '../../agent/state-dir';
import { workspaceLayoutProblem } from '../../agent/workspace-layout';
import { removeDirs, tempDir } from '../support/processes';

let base: string;
beforeEach(() => {
  base = tempDir('layout');
});
afterEach(() => removeDirs(base));

const initState = (dir: string) => new AgentStateDir(dir).create({ brokerDid: null, trustOnFirstUse: true, pinnedAt: null });

describe('workspaceLayoutProblem', () => {
  test("refuses $HOME as workspace with the default state under it, naming both and what to do", () => {
    const state = join(base, '.vaultysclaw', 'agent');
    initState(state);
    assert.equal(
      workspaceLayoutProblem(base, state),
      `the workspace ${base} contains the agent's state directory ${state}, where the agent's tools could read its key or rewrite its broker pin; give --workspace a directory that does not contain it (or move the state with --state-dir)`,
    );
  });

  test('refuses the state directory itself as workspace, and a state directory not created yet (init)', () => {
    const state = join(base, 'state');
    assert.match(workspaceLayoutProblem(base, state) ?? '', /contains the agent's state directory/);
    initState(state);
    assert.match(workspaceLayoutProblem(state, state) ?? '', /contains the agent's state directory/);
  });

  test('accepts separate directories', () => {
    const state = join(base, 'state');
    const workspace = join(base, 'ws');
    mkdirSync(workspace);
    initState(state);
    assert.equal(workspaceLayoutProblem(workspace, state), null);
  });

  test('attack: a state directory outside whose pin is a link into the workspace is refused', () => {
    const state = join(base, 'state');
    const workspace = join(base, 'ws');
    mkdirSync(workspace);
    initState(state);
    renameSync(join(state, 'broker-pin.json'), join(workspace, 'pin.json'));
    symlinkSync(join(workspace, 'pin.json'), join(state, 'broker-pin.json'));
    assert.equal(
      workspaceLayoutProblem(workspace, state),
      `the workspace ${workspace} contains the agent's state file ${join(state, 'broker-pin.json')} (through a link), where the agent's tools could read or rewrite it; give --workspace a directory that does not contain it`,
    );
  });

  test('attack: a workspace given through a link to a parent of the state directory is refused', () => {
    const state = join(base, 'home', '.vaultysclaw', 'agent');
    initState(state);
    symlinkSync(join(base, 'home'), join(base, 'home-link'));
    assert.match(workspaceLayoutProblem(join(base, 'home-link'), state) ?? '', /contains the agent's state directory/);
  });
});
