import type { IntentSummary } from './views';

/** The text as one sentence: a full stop added unless it ends like one. */
export const sentence = (text: string) => {
  const t = text.trim();
  return /[.!?…)]$/.test(t) ? t : `${t}.`;
};

/**
 * Why an intent did not succeed, as a sentence made of the refusal's message, never its code: "The agent refused
 * it: the path leaves the workspace." Null while it runs or when it succeeded.
 */
export function problemSentence(intent: Pick<IntentSummary, 'state' | 'rejectedBy' | 'reason' | 'message'>): string | null {
  const words = intent.message?.trim() || (intent.reason ? intent.reason.replace(/-/g, ' ') : '');
  switch (intent.state) {
    case 'succeeded':
    case 'sent':
    case 'running':
      return null;
    case 'rejected':
      return sentence(`${intent.rejectedBy === 'agent' ? 'The agent refused it' : 'The broker refused to send it'}${words ? `: ${words}` : ''}`);
    case 'failed':
      return sentence(`It failed${words ? `: ${words}` : ''}`);
    case 'lost-agent':
      return sentence(`The agent went offline before it answered${words ? `: ${words}` : ''}`);
    default:
      // A state this version does not know (a later one, e.g. a cancel): its own words.
      return words ? sentence(`It ended ${String(intent.state)}: ${words}`) : sentence(`It ended ${String(intent.state)}`);
  }
}
