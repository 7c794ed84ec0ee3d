import type { IntentDetail } from '../../core/rpc/views';

/**
 * An ended intent as intentsGet returns it, for the tests of the pure words and views built from one (the model's
 * result text, the result view): a read_file that succeeded, unsigned, unless `over` says otherwise.
 */
export function intentDetail(over: Partial<IntentDetail> = {}): IntentDetail {
  return {
    id: 'c'.repeat(32),
    agent: `did:vaultys:${'a'.repeat(40)}`,
    capability: 'read_file',
    params: { path: 'README.md' },
    user: `did:vaultys:${'1'.repeat(40)}`,
    state: 'succeeded',
    outcome: 'succeeded',
    reason: null,
    rejectedBy: null,
    message: null,
    output: null,
    createdAt: 1,
    updatedAt: 2,
    signedIntent: null,
    signedResult: null,
    omitted: [],
    ...over,
  };
}
