/**
 * A tree row as plain data: what the views show, built without the editor
 * API so it can be tested against a real broker. extension/views turns it
 * into a vscode.TreeItem one to one.
 */
export interface TreeNode {
  /** Stable across refreshes, so the tree keeps expansion and selection. */
  id: string;
  label: string;
  description?: string;
  /**
   * The description again at another time, for rows whose words hold an age ("5 min ago"): a timer calls it and
   * repaints only the rows whose text changed (extension/views/age-refresh.ts), without rebuilding the tree.
   */
  describe?: (now: number) => string;
  /** Markdown. */
  tooltip?: string;
  /** Drives the menus in package.json (viewItem == agent.pending …). */
  contextValue?: string;
  /** A codicon id, with an optional theme colour id. */
  icon?: { id: string; color?: string };
  collapsible: 'none' | 'collapsed' | 'expanded';
  children?: TreeNode[];
  /** A command run when the row is opened, with its arguments. */
  command?: { id: string; title: string; args: unknown[] };
}

/** "1 agent", "2 agents", "0 approvals": the noun agrees with the number. */
export function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}

/**
 * Brings the age words of `roots` up to `now`, in place: each row with a `describe` gets its new text, and the rows whose
 * text changed are returned, for the view to repaint those alone (a timer does this; the broker is not asked anything).
 */
export function refreshAges(roots: readonly TreeNode[], now: number): TreeNode[] {
  const changed: TreeNode[] = [];
  const visit = (nodes: readonly TreeNode[]) => {
    for (const node of nodes) {
      const text = node.describe?.(now);
      if (text !== undefined && text !== node.description) {
        node.description = text;
        changed.push(node);
      }
      if (node.children) visit(node.children);
    }
  };
  visit(roots);
  return changed;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** "just now", "5 min ago", "3 h ago", "2 d ago". */
export function ago(then: number, now: number): string {
  const d = Math.max(0, now - then);
  if (d < MINUTE) return 'just now';
  if (d < HOUR) return `${Math.floor(d / MINUTE)} min ago`;
  if (d < DAY) return `${Math.floor(d / HOUR)} h ago`;
  return `${Math.floor(d / DAY)} d ago`;
}

/** "in 5 min", "in 29 d", or "expired 2 h ago". */
export function until(then: number, now: number): string {
  if (then <= now) return `expired ${ago(then, now)}`;
  const d = then - now;
  if (d < MINUTE) return `in ${Math.ceil(d / 1000)} s`;
  if (d < HOUR) return `in ${Math.floor(d / MINUTE)} min`;
  if (d < DAY) return `in ${Math.floor(d / HOUR)} h`;
  return `in ${Math.floor(d / DAY)} d`;
}

import { displayName } from '../../core/text/untrusted-text';

/**
 * Who a DID is, as a row shows it: a known name made visible with its short fingerprint (two parties with
 * look-alike names never read alike), else the shortened DID.
 */
export function who(name: string | undefined, did: string): string {
  return name === undefined ? shortDid(did) : displayName(name, did);
}

/** did:vaultys:0123…cdef, for rows where the full DID would not fit (tooltips keep it whole). */
export function shortDid(did: string): string {
  const hex = did.replace(/^did:vaultys:/, '');
  return hex.length > 12 ? `did:vaultys:${hex.slice(0, 6)}…${hex.slice(-4)}` : did;
}

/** Escapes text for a Markdown tooltip, so names an agent chose cannot inject links or markup. */
export function md(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, (c) => `\\${c}`);
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}
