import { randomBytes } from 'node:crypto';

export function makeNonce(): string {
  return randomBytes(18).toString('base64').replace(/[^A-Za-z0-9]/g, '');
}

const escapeAttr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/**
 * High Contrast Light defines no hover colour for secondary buttons, and the button library then falls back to a
 * dark grey under their dark label: a focused Reject or Verify read 1.3:1 (test/ui/support/contrast.ts). The
 * theme's own background keeps the label readable, the focus border still shows where focus is.
 */
const THEME_GAPS = 'body.vscode-high-contrast-light { --vscode-button-secondaryHoverBackground: var(--vscode-button-secondaryBackground, var(--vscode-editor-background)); }';

/**
 * The page of every panel of ours: nothing runs but our nonce'd bundle, nothing loads but from the extension's own
 * webview resources, no inline style but the nonce'd block. Colours come from the editor's --vscode-* variables
 * only, so light, dark and high-contrast themes all read. `style` and `loading` are the panel's own, trusted text.
 */
export function webviewPage(options: { cspSource: string; nonce: string; scriptUri: string; title: string; style: string; loading: string }): string {
  const { cspSource, nonce } = options;
  const csp = ["default-src 'none'", `img-src ${cspSource} data:`, `font-src ${cspSource}`, `style-src ${cspSource} 'nonce-${nonce}'`, `script-src 'nonce-${nonce}'`].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttr(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeAttr(options.title)}</title>
<style nonce="${nonce}">
${THEME_GAPS}
${options.style}
</style>
</head>
<body>
<main id="app" aria-live="polite"><p class="sub">${options.loading}</p></main>
<script nonce="${nonce}" src="${escapeAttr(options.scriptUri)}"></script>
</body>
</html>`;
}
