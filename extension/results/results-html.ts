import { webviewPage } from '../webview/webview-page';

/** What this panel's page looks like; webviewPage makes the page around it (CSP, nonce, bundle). */
const STYLE = `  body { color: var(--vscode-foreground); background: var(--vscode-editor-background); font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); padding: 0 20px 24px; line-height: 1.5; }
  h1 { font-size: 1.3em; font-weight: 600; margin: 16px 0 4px; overflow-wrap: anywhere; }
  h2 { font-size: 1.05em; font-weight: 600; margin: 20px 0 6px; }
  .sub { color: var(--vscode-descriptionForeground); margin: 0 0 8px; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
  dt { color: var(--vscode-descriptionForeground); }
  dd { margin: 0; overflow-wrap: anywhere; }
  code, pre, .mono { font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); }
  pre { background: var(--vscode-textCodeBlock-background); border: 1px solid var(--vscode-panel-border, transparent); outline-offset: -1px; padding: 8px 10px; white-space: pre-wrap; overflow-wrap: anywhere; margin: 4px 0 0; max-height: 70vh; overflow: auto; tab-size: 4; }
  pre:focus { outline: 1px solid var(--vscode-focusBorder); }
  pre.stderr { border-left: 3px solid var(--vscode-editorWarning-foreground); }
  .empty { color: var(--vscode-descriptionForeground); font-style: italic; }
  table { border-collapse: collapse; width: 100%; margin-top: 4px; }
  caption { text-align: left; color: var(--vscode-descriptionForeground); padding-bottom: 4px; }
  th, td { text-align: left; padding: 2px 12px 2px 4px; border-bottom: 1px solid var(--vscode-panel-border, var(--vscode-contrastBorder, transparent)); }
  th { font-weight: 600; }
  td.size, th.size { text-align: right; font-variant-numeric: tabular-nums; }
  tbody tr:hover { background: var(--vscode-list-hoverBackground); }
  .banner { padding: 8px 12px; margin: 12px 0; border-left: 3px solid var(--vscode-focusBorder); background: var(--vscode-editorWidget-background); border-top: 1px solid var(--vscode-contrastBorder, transparent); border-right: 1px solid var(--vscode-contrastBorder, transparent); border-bottom: 1px solid var(--vscode-contrastBorder, transparent); }
  .banner.error { border-left-color: var(--vscode-errorForeground); }
  .banner.ok { border-left-color: var(--vscode-testing-iconPassed, var(--vscode-focusBorder)); }
  .actions { display: flex; gap: 8px; margin: 12px 0; flex-wrap: wrap; align-items: center; }
  .state { font-weight: 600; }
  .step { margin: 12px 0; padding-left: 10px; border-left: 2px solid var(--vscode-panel-border, var(--vscode-contrastBorder, transparent)); }
  .call { margin: 6px 0; }
  .notes { color: var(--vscode-descriptionForeground); margin: 6px 0; padding-left: 18px; }
  [hidden] { display: none !important; }`;

/** The result view's page. */
export function resultsHtml(options: { cspSource: string; nonce: string; scriptUri: string }): string {
  return webviewPage({ ...options, title: 'VaultysClaw result', style: STYLE, loading: 'Loading the result…' });
}
