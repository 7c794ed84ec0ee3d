import { BUDGETS } from '../budgets';
import { DomainPattern, type CommandLimits } from '../wire/policy';

/**
 * The policy's domains and sizes as people type and read them, shared by the broker CLI and the extension
 * so both accept the same text and say the same thing about a mistake.
 */

const UNITS = [
  { suffix: 'G', name: 'GiB', bytes: 1024 ** 3 },
  { suffix: 'M', name: 'MiB', bytes: 1024 ** 2 },
  { suffix: 'K', name: 'KiB', bytes: 1024 },
] as const;

/** "2G", "512M", "64K", "2 GiB", "1.5G", "1000 bytes" or a plain number; binary units, as the limits in core/budgets.ts. */
export function parseByteSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:([KMG])(?:i?B)?|B|bytes?)?\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = UNITS.find((u) => u.suffix === m[2]?.toUpperCase());
  const bytes = Number(m[1]) * (unit?.bytes ?? 1);
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

/** The largest binary unit that divides `bytes` exactly ("4 GiB", "1536 MiB"), so what is shown parses back to the same number. */
export function formatBytes(bytes: number): string {
  const unit = UNITS.find((u) => bytes >= u.bytes && bytes % u.bytes === 0);
  return unit ? `${bytes / unit.bytes} ${unit.name}` : `${bytes} bytes`;
}

/** Why `text` is not a domain pattern, in words that point at the usual mistakes (a URL, an IP address, a port); undefined if it is one. */
export function domainPatternProblem(text: string): string | undefined {
  const quoted = JSON.stringify(text).slice(0, 270);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    const host = URL.canParse(text) ? new URL(text).hostname : '';
    return `${quoted} is a URL: give only its host name${host ? ` (${host})` : ''}`;
  }
  const ipv6 = text.startsWith('[') || (text.match(/:/g)?.length ?? 0) > 1;
  if (ipv6 || /^[0-9.]+(:\d+)?$/.test(text)) return `${quoted} is an IP address: allowed domains are host names`;
  if (/:\d*$/.test(text)) return `${quoted} names a port: allowed domains are host names only, without a port`;
  if (text.includes('/')) return `${quoted} has a path: give only the host name`;
  const parsed = DomainPattern.safeParse(text);
  return parsed.success ? undefined : `${quoted} is not a domain pattern: ${parsed.error.issues[0]?.message ?? 'invalid'}`;
}

/** A comma- or space-separated list of domain patterns, lower-cased (names are case-insensitive); the first problem otherwise. */
export function parseDomainList(text: string): { ok: true; domains: string[] } | { ok: false; problem: string } {
  const domains = [...new Set(text.split(/[\s,]+/).map((d) => d.trim().toLowerCase()).filter(Boolean))];
  if (domains.length > BUDGETS.allowedDomains.limit) {
    return { ok: false, problem: `${domains.length} allowed domains; a policy names at most ${BUDGETS.allowedDomains.limit}` };
  }
  for (const domain of domains) {
    const problem = domainPatternProblem(domain);
    if (problem) return { ok: false, problem };
  }
  return { ok: true, domains };
}

/** How each command limit is named, typed and shown, in one place for the CLI flags, the policy editor and the views. */
export const LIMIT_FIELDS: readonly { key: keyof CommandLimits; label: string; flag: string; kind: 'bytes' | 'count' | 'seconds' }[] = [
  { key: 'cpuSeconds', label: 'CPU seconds', flag: 'max-cpu-seconds', kind: 'seconds' },
  { key: 'memoryBytes', label: 'Memory', flag: 'max-memory', kind: 'bytes' },
  { key: 'processes', label: 'Processes', flag: 'max-processes', kind: 'count' },
  { key: 'fileBytes', label: 'File size', flag: 'max-file-size', kind: 'bytes' },
  { key: 'workspaceWriteBytes', label: 'Workspace writes per intent', flag: 'max-workspace-writes', kind: 'bytes' },
];

/** One limit as people read it: "4 GiB", "600 s", "256". */
export function formatLimit(kind: (typeof LIMIT_FIELDS)[number]['kind'], value: number): string {
  return kind === 'bytes' ? formatBytes(value) : kind === 'seconds' ? `${value} s` : String(value);
}

/** One limit as typed (sizes with K/M/G, the others whole numbers); the problem otherwise. */
export function parseLimit(field: (typeof LIMIT_FIELDS)[number], text: string, max: number): { ok: true; value: number } | { ok: false; problem: string } {
  const value = field.kind === 'bytes' ? parseByteSize(text) : /^\s*\d+\s*(s)?\s*$/i.test(text) ? Number.parseInt(text, 10) : undefined;
  if (value === undefined || !(value > 0)) {
    return { ok: false, problem: `${field.label}: ${JSON.stringify(text)} is not ${field.kind === 'bytes' ? 'a size such as 512M or 2G' : 'a whole number above 0'}` };
  }
  if (value > max) return { ok: false, problem: `${field.label}: at most ${formatLimit(field.kind, max)}` };
  return { ok: true, value };
}
