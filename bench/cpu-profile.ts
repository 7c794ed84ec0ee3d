/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`) of a bundled process:
 * self and inclusive time per function, self time per source module and per
 * area (crypto, storage, logging, ...), optionally restricted to a time
 * window. Bundle line numbers are mapped back to their source module through
 * the "// path/to/module.ts" comments esbuild writes at the start of each
 * module (the bench bundles are not minified).
 *
 * Time base: a profile's startTime and sample times are CLOCK_MONOTONIC
 * microseconds, the clock of process.hrtime in any process on the machine, so
 * windows recorded by the bench with process.hrtime.bigint() / 1000 select
 * samples of the broker's profile directly.
 *
 * Standalone: node --import tsx bench/cpu-profile.ts FILE.cpuprofile [--from US --to US] [--top N]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Row {
  name: string;
  ms: number;
  share: number;
}

export interface ProfileSummary {
  file: string;
  window: { fromUs: number; toUs: number; ms: number; samples: number };
  /** Share of the window's samples that were not idle. */
  busyShare: number;
  byArea: Row[];
  byModule: Row[];
  topSelf: Row[];
  topInclusive: Row[];
}

/** Bundle line → source module, from esbuild's "// module/path.ts" section comments. */
function moduleMap(bundlePath: string): (line: number) => string {
  let text: string;
  try {
    text = readFileSync(bundlePath, 'utf8');
  } catch {
    return () => bundlePath;
  }
  const starts: { line: number; module: string }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^\/\/ ((?:\.\.\/)*[\w@./-]+\.(?:ts|js|mjs|cjs|json))$/.exec(lines[i]!);
    if (m) starts.push({ line: i, module: m[1]!.replace(/^(\.\.\/)+/, '') });
  }
  // Not a bundle (a file loaded from node_modules at run time, e.g. better-sqlite3): the file is the module.
  if (starts.length === 0) {
    const i = bundlePath.lastIndexOf('/node_modules/');
    const name = i >= 0 ? bundlePath.slice(i + 1) : bundlePath;
    return () => name;
  }
  return (line: number) => {
    let lo = 0;
    let hi = starts.length - 1;
    let found = '(bundle prelude)';
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]!.line <= line) {
        found = starts[mid]!.module;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
}

/** What a module (or a node: internal) is for, to group costs. */
export function areaOf(module: string, functionName: string): string {
  if (module === '(garbage collector)') return 'GC';
  if (module === '(idle)') return 'idle';
  if (module === '(program)') return 'V8/runtime (program)';
  if (/node:internal\/crypto|core\/identity\/ed25519|core\/identity\/vaultys-id/.test(module)) return 'crypto (Ed25519, SHA-256, key objects)';
  if (/core\/identity|@msgpack/.test(module)) return 'signed encoding (msgpack, tagged envelopes, challenger)';
  if (/better-sqlite3|broker\/store|agent\/store/.test(module)) return 'storage (SQLite)';
  if (/pino|sonic-boom|broker\/audit|broker\/log\.ts|fast-redact|thread-stream|on-exit-leak-free|quick-format|safe-stable-stringify/.test(module)) return 'logging + audit chain';
  if (/vscode-jsonrpc|broker\/rpc|core\/rpc/.test(module)) return 'JSON-RPC (client link)';
  if (/node_modules\/ws\/|node:internal\/(stream|net|http|streams)|node:net|node:_http|node:http|node:stream/.test(module)) return 'WebSocket/net I/O';
  if (/zod/.test(module)) return 'schema validation (zod)';
  if (/agent\/tools/.test(module)) return 'agent tools (sandboxed fs)';
  if (/broker\/|core\//.test(module)) return 'broker logic';
  if (/agent\//.test(module)) return 'agent logic';
  if (/node:internal\/modules|node:internal\/bootstrap/.test(module)) return 'module loading (start-up)';
  if (module.startsWith('node:')) return `node internals (${module.replace(/^node:(internal\/)?/, '').split('/')[0]})`;
  if (functionName === '(root)') return 'other';
  return 'other';
}

export function summarizeProfile(file: string, window?: { fromUs?: number; toUs?: number }, top = 20): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const maps = new Map<string, (line: number) => string>();
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) byId.set(n.id, n);
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const described = new Map<number, { fn: string; module: string; area: string }>();
  const describe = (id: number): { fn: string; module: string; area: string } => {
    const cached = described.get(id);
    if (cached) return cached;
    const { callFrame: f } = byId.get(id)!;
    let module: string;
    if (f.functionName.startsWith('(') && f.url === '') module = f.functionName;
    else if (f.url.startsWith('file://')) {
      const path = fileURLToPath(f.url);
      if (!maps.has(path)) maps.set(path, moduleMap(path));
      module = maps.get(path)!(f.lineNumber);
    } else if (f.url === '') {
      // A native function (a binding, a builtin): it belongs to the area of its caller.
      const up = parent.get(id);
      const caller = up !== undefined ? describe(up) : undefined;
      const d = { fn: `${f.functionName || '(anonymous)'} [native]`, module: caller?.module ?? '(native)', area: caller?.area ?? 'other' };
      described.set(id, d);
      return d;
    } else module = f.url;
    const d = { fn: `${f.functionName || '(anonymous)'} ${module}:${f.lineNumber + 1}`, module, area: areaOf(module, f.functionName) };
    described.set(id, d);
    return d;
  };

  const fromUs = window?.fromUs ?? profile.startTime;
  const toUs = window?.toUs ?? profile.endTime;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const modules = new Map<string, number>();
  const areas = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  let t = profile.startTime;
  let total = 0;
  let idle = 0;
  let samples = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < fromUs || t > toUs) continue;
    // A sample stands for the time until the next one.
    const dt = Math.max(0, Math.min(profile.timeDeltas[i + 1] ?? 0, 100_000));
    const id = profile.samples[i]!;
    const d = describe(id);
    samples++;
    total += dt;
    if (d.area === 'idle') {
      idle += dt;
      continue;
    }
    add(self, d.fn, dt);
    add(modules, d.module, dt);
    add(areas, d.area, dt);
    const seen = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const fn = describe(n).fn;
      if (seen.has(fn)) continue;
      seen.add(fn);
      add(inclusive, fn, dt);
    }
  }
  const busy = total - idle;
  const rows = (m: Map<string, number>, n: number): Row[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: us / 1000, share: busy > 0 ? us / busy : 0 }));
  return {
    file,
    window: { fromUs, toUs, ms: (toUs - fromUs) / 1000, samples },
    busyShare: total > 0 ? busy / total : 0,
    byArea: rows(areas, 20),
    byModule: rows(modules, top),
    topSelf: rows(self, top),
    topInclusive: rows(inclusive, top).filter((r) => !r.name.startsWith('(root)')),
  };
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const file = args[0];
  if (!file) {
    process.stderr.write('usage: node --import tsx bench/cpu-profile.ts FILE.cpuprofile [--from US] [--to US] [--top N]\n');
    process.exit(2);
  }
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : undefined;
  };
  const summary = summarizeProfile(file, { fromUs: opt('--from'), toUs: opt('--to') }, opt('--top') ?? 25);
  process.stdout.write(`${JSON.stringify(summary, (_k, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(3)) : v), 2)}\n`);
}
