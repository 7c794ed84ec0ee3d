import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { commandMatches, normaliseCommandPath } from '../../../core/policy/command-name';

const allow = (rule: string, command: string, ...executables: string[]) => commandMatches(rule, command, { deny: false, executables });
const deny = (rule: string, command: string, ...executables: string[]) => commandMatches(rule, command, { deny: true, executables });

describe('commandMatches', () => {
  test('a bare name: the bare command and the same name in a system directory, however the path is spelled', () => {
    for (const command of ['git', '/usr/bin/git', '/bin/git', '/usr/local/bin/git', '/usr/sbin/git', '/sbin/git', '/usr/local/sbin/git', '/usr/bin/../bin/git', '//usr//bin/./git']) {
      assert.equal(allow('git', command), true, command);
      assert.equal(deny('git', command), true, command);
    }
  });

  test('a planted binary never matches an allow or ask rule, and always a deny rule', () => {
    for (const command of ['./git', 'git/', 'bin/git', '../../usr/bin/git', '/work/ws/git', '/tmp/git', '/usr/bin/x/git', '/usr/bin/../../tmp/git', '/opt/bin/git']) {
      assert.equal(allow('git', command), false, command);
    }
    for (const command of ['./rm', 'bin/rm', '../../bin/rm', '/work/ws/rm', '/tmp/./rm']) assert.equal(deny('rm', command), true, command);
    assert.equal(deny('rm', './rmdir'), false);
  });

  test('look-alikes and case: allow compares exactly, deny also case-insensitively', () => {
    assert.equal(allow('git', 'g\u0456t'), false, 'Cyrillic і');
    assert.equal(allow('git', 'GIT'), false);
    assert.equal(allow('git', 'git\u200b'), false, 'zero-width space');
    assert.equal(deny('rm', 'RM'), true);
    assert.equal(deny('rm', './Rm'), true);
    assert.equal(deny('rm', 'r\u043c'), false, 'a look-alike is another program: the default decides it');
  });

  test('an absolute rule: that path normalised, or a bare command the host resolved to it', () => {
    assert.equal(allow('/usr/bin/git', '/usr/bin/git'), true);
    assert.equal(allow('/usr/bin/git', '/usr/./bin//git'), true);
    assert.equal(allow('/usr/bin/git', '/bin/git'), false);
    assert.equal(allow('/usr/bin/git', 'git'), false, 'the broker cannot know where git resolves');
    assert.equal(allow('/usr/bin/git', 'git', '/usr/bin/git'), true);
    assert.equal(allow('/usr/bin/git', 'git', '/work/ws/git'), false);
    assert.equal(allow('/usr/bin/git', './git', '/usr/bin/git'), false, 'only a bare command takes the resolved path');
    assert.equal(deny('/usr/bin/rm', '/USR/BIN/RM'), true);
  });

  test('a deny on a name catches a bare command the host resolved to a file of that name', () => {
    assert.equal(deny('dash', 'sh', '/usr/bin/sh', '/usr/bin/dash'), true);
    assert.equal(deny('dash', 'sh'), false);
    assert.equal(allow('dash', 'sh', '/usr/bin/sh', '/usr/bin/dash'), false);
  });

  test('an absolute deny catches the command through the file PATH finds or the real file a link leads to', () => {
    assert.equal(deny('/usr/bin/sh', 'sh', '/usr/bin/sh', '/usr/bin/dash'), true, 'found on PATH as /usr/bin/sh');
    assert.equal(deny('/usr/bin/dash', 'sh', '/usr/bin/sh', '/usr/bin/dash'), true, 'its real file');
    assert.equal(deny('/usr/bin/dash', '/bin/sh', '/bin/sh', '/usr/bin/dash'), true, 'a path that links there');
    assert.equal(deny('dash', './shell', '/work/ws/shell', '/usr/bin/dash'), true, 'a workspace link to a denied program');
    assert.equal(allow('/usr/bin/dash', './shell', '/work/ws/shell', '/usr/bin/dash'), false, 'an allow trusts the resolution of a bare name only');
    assert.equal(allow('/usr/bin/sh', 'sh', '/usr/bin/sh', '/usr/bin/dash'), true);
  });

  test('normaliseCommandPath resolves //, . and .. lexically', () => {
    assert.equal(normaliseCommandPath('//usr/bin/../bin/./git'), '/usr/bin/git');
    assert.equal(normaliseCommandPath('/../../bin/sh'), '/bin/sh');
  });
});
