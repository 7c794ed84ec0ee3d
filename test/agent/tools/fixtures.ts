import { MAX_COMMAND_LIMITS } from '../../../core/policy/command-limits';
import type { HostRules } from '../../../agent/confinement/host-rules';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalEncode, signableProblem } from '../../../core/identity';
import { WorkspaceSandbox, type ProgressStream, type ToolContext, type ToolFailureReason, type ToolOutcome } from '../../../agent/tools';

export const CANARY_TEXT = 'CANARY: must never change\n';

/**
 * base/ws is the workspace root, base/outside holds a canary the attacks aim at. `assertOutsideUntouched`
 * checks that nothing outside the root was created, changed or removed.
 */
export interface Workspace {
  base: string;
  root: string;
  outside: string;
  canary: string;
  sandbox: WorkspaceSandbox;
  assertOutsideUntouched(): void;
  cleanup(): void;
}

export function makeWorkspace(): Workspace {
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'vaultysclaw-tools-')));
  const root = join(base, 'ws');
  const outside = join(base, 'outside');
  const canary = join(outside, 'canary.txt');
  mkdirSync(root);
  mkdirSync(outside);
  writeFileSync(canary, CANARY_TEXT);
  return {
    base,
    root,
    outside,
    canary,
    sandbox: new WorkspaceSandbox(root),
    assertOutsideUntouched() {
      assert.deepEqual(readdirSync(base).sort(), ['outside', 'ws']);
      assert.deepEqual(readdirSync(outside), ['canary.txt']);
      assert.equal(readFileSync(canary, 'utf8'), CANARY_TEXT);
    },
    cleanup() {
      rmSync(base, { recursive: true, force: true, maxRetries: 5 });
    },
  };
}

export interface RecordingContext {
  ctx: ToolContext;
  progress: Array<{ stream: ProgressStream; text: string }>;
  streamed(stream: ProgressStream): string;
}

/** A host as the tests run it: the operator's defaults, with a broker address no test listens on. */
export function testHostRules(over: Partial<HostRules> = {}): HostRules {
  return {
    confinement: { mode: 'unconfined', detail: 'test host', ceilings: MAX_COMMAND_LIMITS },
    brokers: [{ host: '127.0.0.1', port: 9 }],
    allowLoopback: false,
    ...over,
  };
}

export function recordingContext(sandbox: WorkspaceSandbox, signal: AbortSignal = new AbortController().signal): RecordingContext {
  const progress: RecordingContext['progress'] = [];
  return {
    ctx: { sandbox, signal, onProgress: (stream, text) => progress.push({ stream, text }), policy: { allowedDomains: [], commandLimits: MAX_COMMAND_LIMITS }, host: testHostRules(), writes: { remainingBytes: MAX_COMMAND_LIMITS.workspaceWriteBytes } },
    progress,
    streamed: (stream) => progress.filter((p) => p.stream === stream).map((p) => p.text).join(''),
  };
}

/** The result envelope is 192 KiB (core/wire/common Envelope); the rest of ResultBody needs a few KiB. */
const MAX_SIGNED_OUTPUT_BYTES = 180 * 1024;

export function assertSucceeded(outcome: ToolOutcome): Record<string, unknown> {
  if (!outcome.ok) assert.fail(`expected success, got ${outcome.reason}: ${outcome.message}`);
  assert.equal(signableProblem(outcome.output), null);
  assert.ok(canonicalEncode(outcome.output).length <= MAX_SIGNED_OUTPUT_BYTES, 'output must fit the signed result envelope');
  return outcome.output;
}

export function assertRefused(outcome: ToolOutcome, reason: ToolFailureReason, message?: RegExp): void {
  if (outcome.ok) assert.fail(`expected refusal "${reason}", got success: ${JSON.stringify(outcome.output).slice(0, 200)}`);
  assert.equal(outcome.reason, reason, outcome.message);
  if (message) assert.match(outcome.message, message);
}
