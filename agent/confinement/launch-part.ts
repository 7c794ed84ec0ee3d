/**
 * One contribution to how a command is started, so the sandbox, the resource limits and the egress proxy each
 * add their own piece without knowing the others. A command is started as
 *
 *   [...outer of each part] bwrap [sandbox's own args] [...bwrapArgs of each part] -- [...inner of each part] command args
 *
 * (unconfined, only `outer` and `inner` apply). Parts are combined in a fixed order: limits, then egress.
 */
export interface LaunchPart {
  /** Runs on the host before bwrap and must end by exec'ing the rest of the argv ("$@"): e.g. joining a cgroup. */
  outer?: readonly string[];
  /** Extra bubblewrap options: binds, tmpfs sizes. */
  bwrapArgs?: readonly string[];
  /** Runs inside the sandbox and must end by exec'ing or spawning the command that follows: e.g. prlimit … --. */
  inner?: readonly string[];
  /** Added to the command's (scrubbed) environment. */
  env?: Readonly<Record<string, string>>;
  /** The outermost process was spawned (its pid leads the process group). */
  started?(pid: number, stop: (why: string) => void): void;
  /** The command ended: release what the part holds; returns why the part stopped the command, if it did. */
  finish?(): Promise<string | null>;
}
