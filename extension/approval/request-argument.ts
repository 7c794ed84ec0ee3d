import { IntentId } from '../../core/wire/common';

/** The scheme of the diff editor's documents: /<requestId>/<file name>?current|proposed. */
export const APPROVAL_DIFF_SCHEME = 'vaultysclaw-approval';

export type RequestSource = 'diff' | 'row' | 'id';

/**
 * The approval request a command acts on, from whatever invoked it: the diff editor's title bar passes the URI of
 * its document, an Approvals row passes its node (id approval:<requestId>), the panel or a notification the id.
 * Anything else names no request (undefined), rather than a guess.
 */
export function requestArgument(arg: unknown): { requestId: string; source: RequestSource } | undefined {
  const pick = (value: unknown, source: RequestSource) => {
    const parsed = IntentId.safeParse(value);
    return parsed.success ? { requestId: parsed.data, source } : undefined;
  };
  if (typeof arg === 'string') return pick(arg, 'id');
  if (typeof arg !== 'object' || arg === null) return undefined;
  const { scheme, path, id } = arg as { scheme?: unknown; path?: unknown; id?: unknown };
  if (scheme === APPROVAL_DIFF_SCHEME && typeof path === 'string') return pick(path.split('/')[1], 'diff');
  if (typeof id === 'string' && id.startsWith('approval:')) return pick(id.slice('approval:'.length), 'row');
  return undefined;
}
