/** The tools package.json contributes (languageModelTools); the editor's AI and the tests find them by these names. */
export const LM_TOOLS = { listAgents: 'vaultysclaw_listAgents', dispatch: 'vaultysclaw_dispatch' } as const;
