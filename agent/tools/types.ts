import type { ProgressStream, RejectionReason } from '../../core/wire/intent';
import type { CertifiedPolicy } from '../../core/wire/policy';
import type { ToolCall } from '../../core/wire/tools';
import type { HostRules, WriteAllowance } from '../confinement/host-rules';
import type { WorkspaceSandbox } from './sandbox';

export type { ProgressStream };

export interface ToolContext {
  sandbox: WorkspaceSandbox;
  /** Streamed to the broker as signed progress; each text stays well under ProgressBody's 64 KiB. */
  onProgress(stream: ProgressStream, text: string): void;
  /** Aborting kills a running command and stops further work. */
  signal: AbortSignal;
  /** The certified policy in force as the call runs: allowedDomains and commandLimits come from here only. */
  policy: Pick<CertifiedPolicy, 'allowedDomains' | 'commandLimits'>;
  /** This host's operator settings, fixed at start. */
  host: HostRules;
  /** What this intent's commands may still add to the workspace's disk. */
  writes: WriteAllowance;
}

/** path-escape, bad-params, sandbox-unavailable and destination-refused are wire rejection reasons; failed means the tool ran into the world (no such file, exit refused…). */
export type ToolFailureReason = Extract<RejectionReason, 'path-escape' | 'bad-params' | 'sandbox-unavailable' | 'destination-refused'> | 'failed';

/** Outputs are signed as MessagePack: strings, safe integers, booleans, null, arrays and plain objects only. */
export type ToolOutcome = { ok: true; output: Record<string, unknown> } | { ok: false; reason: ToolFailureReason; message: string };

/** A refusal a tool states itself, with the reason the caller reports. */
export class ToolFailure extends Error {
  constructor(
    readonly reason: ToolFailureReason,
    message: string,
  ) {
    super(message);
    this.name = 'ToolFailure';
  }
}

export type ToolParams<C extends ToolCall['capability']> = Extract<ToolCall, { capability: C }>['params'];
