import type { IntentOrigin } from '../../core/wire/intent-origin';
import { visibleText } from '../../core/text/untrusted-text';

/**
 * Which model chose an intent, by name: "the editor's AI (vscode-lm)", "MCP client claude-code". Undefined: a
 * person dispatched it. The client name is the client's own word (its MCP clientInfo), shown with its invisible
 * characters made visible.
 */
export function originName(via: IntentOrigin | undefined): string | undefined {
  if (via === undefined) return undefined;
  if (via === 'vscode-lm') return "the editor's AI (vscode-lm)";
  return `MCP client ${visibleText(via.slice('mcp:'.length))}`;
}

/** The Activity view's words for it: "by the editor's AI (vscode-lm)", "via MCP: claude-code". */
export function originWords(via: IntentOrigin | undefined): string | undefined {
  if (via === undefined) return undefined;
  if (via === 'vscode-lm') return `by ${originName(via)}`;
  return `via MCP: ${visibleText(via.slice('mcp:'.length))}`;
}
