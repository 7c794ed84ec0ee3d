import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { httpExampleSubject, matchNames, subjectsOf } from '../../../core/policy/rule-match';

const host = { host: 'registry.npmjs.org', pathPrefix: '/api' };
const http = (example: string, deny = false, match: Parameters<typeof matchNames>[0] = host) => matchNames(match, httpExampleSubject(example), deny);

describe('matchNames: http_fetch', () => {
  test('a path prefix is a whole segment or more of the WHATWG-parsed pathname', () => {
    assert.equal(http('GET https://registry.npmjs.org/api'), true);
    assert.equal(http('GET https://registry.npmjs.org/api/'), true);
    assert.equal(http('GET https://registry.npmjs.org/api/x?y#z'), true);
    assert.equal(http('GET https://registry.npmjs.org/api2'), false);
    assert.equal(http('GET https://registry.npmjs.org/API'), false);
    assert.equal(http('GET https://registry.npmjs.org/api/../admin'), false, 'the parser resolves .. before the match');
    assert.equal(http('GET https://registry.npmjs.org/api/..%2Fadmin'), false, 'an encoded slash a server may decode past the prefix');
    assert.equal(http('GET https://registry.npmjs.org/api/%2e%2e/admin'), false);
  });

  test('a deny prefix also reads the decoded path, case-insensitively', () => {
    const admin = { host: 'registry.npmjs.org', pathPrefix: '/admin' };
    assert.equal(http('GET https://registry.npmjs.org/%61dmin/x', true, admin), true);
    assert.equal(http('GET https://registry.npmjs.org/ADMIN', true, admin), true);
    assert.equal(http('GET https://registry.npmjs.org/%61dmin/x', false, admin), false);
  });

  test('the host by domainAllowed, methods when given; an unparsable URL matches nothing', () => {
    assert.equal(http('GET https://REGISTRY.npmjs.org./api'), true);
    assert.equal(http('GET https://evil.registry.npmjs.org/api'), false);
    assert.equal(http('GET https://registry.npmjs.org.evil/api'), false);
    assert.equal(http('GET https://registry.npmjs.org@evil.test/api'), false, 'userinfo is not the host');
    assert.equal(http('POST https://registry.npmjs.org/x', false, { methods: ['GET'], host: 'registry.npmjs.org' }), false);
    assert.equal(http('GET https://a.b.example.com/', false, { host: '*.example.com' }), true);
    assert.equal(http('GET https://[::1]/', true, { host: '*.example.com' }), false);
    assert.equal(matchNames({ host: 'x.test' }, { capability: 'http_fetch', method: 'GET', url: null }, true), false);
  });
});

describe('matchNames: llm_task', () => {
  const match = { tools: ['read_file', 'list_files'] as ('read_file' | 'list_files')[] };
  test('allow and ask: every tool of the task is among the rule tools; deny: any of them', () => {
    assert.equal(matchNames(match, { capability: 'llm_task', tools: ['read_file'] }, false), true);
    assert.equal(matchNames(match, { capability: 'llm_task', tools: ['read_file', 'run_command'] }, false), false);
    assert.equal(matchNames(match, { capability: 'llm_task', tools: ['read_file', 'run_command'] }, true), true);
    assert.equal(matchNames(match, { capability: 'llm_task', tools: ['run_command'] }, true), false);
  });
});

describe('subjectsOf', () => {
  test('a path call: its lexical path and every real path, normalised', () => {
    const subjects = subjectsOf({ capability: 'read_file', params: { path: './a//b' } }, ['c/../d']);
    assert.deepEqual(
      subjects.map((s) => ('path' in s ? s.path.segments : null)),
      [['a', 'b'], ['d']],
    );
  });

  test('a task without a tool list may use every tool', () => {
    const [subject] = subjectsOf({ capability: 'llm_task', params: { instruction: 'go' } });
    assert.deepEqual(subject, { capability: 'llm_task', tools: ['read_file', 'list_files', 'write_file', 'run_command', 'http_fetch'] });
  });
});
