/**
 * The name the broker's command line proves itself under when run on the broker host without --key
 * (broker/cli/broker-client.ts): the host's operator key, always an owner. Names are unique and set once, so a
 * user of that name is read as the host's command line. Only what the editor says depends on it, never a decision
 * the broker makes.
 */
export const LOCAL_OPERATOR_NAME = 'local operator';

/**
 * What "local operator" means, in one plain sentence, wherever the editor shows the name (Activity and Approvals
 * tooltips, the approval panel, user pickers, the dispatch notification): the one wording, so the places cannot drift.
 */
export const LOCAL_OPERATOR_EXPLAINED =
  '"local operator" is the broker host\'s own key (operator.key in the broker\'s data directory), not a person in an editor: the broker\'s command line on that machine acts with it, and so does this extension when it runs that command line for you (to invite you to a broker it started). It decides only when someone runs the broker\'s command line on that machine.';

/** The explanation, when `text` names the local operator; nothing otherwise. */
export function localOperatorNote(text: string): string | undefined {
  return text.includes(LOCAL_OPERATOR_NAME) ? LOCAL_OPERATOR_EXPLAINED : undefined;
}

/** The explanation, when one of these user names is the local operator's; nothing otherwise. */
export function localOperatorAmong(names: readonly (string | undefined)[]): string | undefined {
  return names.some((name) => name === LOCAL_OPERATOR_NAME) ? LOCAL_OPERATOR_EXPLAINED : undefined;
}
