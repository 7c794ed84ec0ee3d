/**
 * Whether `host` is named by one of a certified policy's allowedDomains (core/wire/policy.ts DomainPattern).
 * One function, so the broker's pre-check, the agent's http_fetch and its egress proxy agree.
 * Host names compare case-insensitively and without a trailing dot; `*.example.com` matches any name
 * strictly under example.com, never example.com itself. IP literals never match: patterns are names.
 */
export function domainAllowed(host: string, patterns: readonly string[]): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  if (name === '' || name.includes('*') || /^[0-9.]+$/.test(name) || name.includes(':')) return false;
  return patterns.some((pattern) => (pattern.startsWith('*.') ? name.endsWith(pattern.slice(1)) && name.length > pattern.length - 1 : name === pattern));
}
