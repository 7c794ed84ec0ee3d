import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { IdType, SecretIdentity } from '../../../core/identity';
import { AUDIT_LOG_FILE } from '../../../broker/audit/chain';
import { ChainedDestination } from '../../../broker/audit/chained-destination';
import { AuditCheckpoints, type CheckpointPolicy } from '../../../broker/audit/checkpoints';
import type { CheckpointNode } from '../../../core/audit/chain-entry';

/** Temp directories made by a test file, removed by its after() hook. */
export class TempDirs {
  readonly #dirs: string[] = [];
  make(): string {
    const dir = mkdtempSync(join(tmpdir(), 'vc-audit-'));
    this.#dirs.push(dir);
    return dir;
  }
  removeAll(): void {
    for (const dir of this.#dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

export const brokerIdentity = (): SecretIdentity => SecretIdentity.generate(IdType.Machine);

/**
 * An audit log written the way the broker writes it (pino → chained destination,
 * checkpoints signed by `identity`), without the stderr copy so test output stays readable.
 */
export class TestAuditLog {
  readonly destination: ChainedDestination;
  readonly log: pino.Logger;
  readonly checkpoints: AuditCheckpoints;

  constructor(
    readonly path: string,
    identity: SecretIdentity,
    policy: CheckpointPolicy = { everyLines: 5, everyMs: 60_000 },
    level = 'info',
    node?: CheckpointNode,
  ) {
    this.destination = ChainedDestination.open(path);
    this.log = pino({ level, base: { component: 'broker' } }, pino.multistream([{ level: 'trace', stream: this.destination }]));
    this.checkpoints = new AuditCheckpoints(this.destination, identity, this.log, policy, node);
  }

  /** `count` ordinary events, numbered from `from`. */
  events(count: number, from = 0): this {
    for (let i = from; i < from + count; i++) this.log.info({ event: 'intent.submitted', intentId: `intent-${i}`, n: i }, `event number ${i}`);
    return this;
  }

  /** Shutdown checkpoint, then close. */
  close(): void {
    this.checkpoints.close();
    this.destination.close();
  }
}

/** An honest log of `events` events, closed cleanly, at <dir>/audit.log. */
export function writeHonestLog(dir: string, identity: SecretIdentity, events = 23, policy?: CheckpointPolicy): string {
  const path = join(dir, AUDIT_LOG_FILE);
  const log = new TestAuditLog(path, identity, policy).events(events);
  log.close();
  return path;
}

/** The file's lines (without the final "\n"), and a writer that puts them back. */
export function fileLines(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  return (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n');
}

export function writeLines(path: string, lines: string[]): void {
  writeFileSync(path, `${lines.join('\n')}\n`);
}

export const parsedLines = (path: string): Record<string, unknown>[] => fileLines(path).map((l) => JSON.parse(l) as Record<string, unknown>);

/** 0-based indexes of checkpoint lines and of ordinary ones. */
export function lineKinds(path: string): { checkpoints: number[]; ordinary: number[] } {
  const checkpoints: number[] = [];
  const ordinary: number[] = [];
  parsedLines(path).forEach((l, i) => (l.event === 'audit.checkpoint' ? checkpoints : ordinary).push(i));
  return { checkpoints, ordinary };
}

/** The built broker, as CI runs it. */
export const BROKER = join(resolve(__dirname, '..', '..', '..'), 'dist', 'broker.js');

/** Runs the built broker CLI (`broker audit verify …`) and returns what it printed. */
export function brokerCli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  if (!existsSync(BROKER)) throw new Error('dist/broker.js is missing: run `npm run build` before this test');
  const run = spawnSync(process.execPath, [BROKER, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}
