import { webviewPage } from '../webview/webview-page';

/** What this panel's page looks like; webviewPage makes the page around it (CSP, nonce, bundle). */
const STYLE = `  body { color: var(--vscode-foreground); background: var(--vscode-editor-background); font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); padding: 0 20px 24px; line-height: 1.5; }
  h1 { font-size: 1.3em; font-weight: 600; margin: 16px 0 4px; }
  h2 { font-size: 1.05em; font-weight: 600; margin: 20px 0 6px; }
  .sub { color: var(--vscode-descriptionForeground); margin: 0 0 12px; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
  dt { color: var(--vscode-descriptionForeground); }
  dd { margin: 0; overflow-wrap: anywhere; }
  code, pre { font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); }
  pre { background: var(--vscode-textCodeBlock-background); border: 1px solid var(--vscode-panel-border, transparent); padding: 8px 10px; white-space: pre-wrap; overflow-wrap: anywhere; margin: 4px 0 0; max-height: 60vh; overflow: auto; }
  .param { margin: 0 0 12px; }
  .param-name { font-weight: 600; }
  .banner { padding: 8px 12px; margin: 12px 0; border: 1px solid var(--vscode-contrastBorder, transparent); border-left: 3px solid var(--vscode-focusBorder); background: var(--vscode-editorWidget-background); overflow-wrap: anywhere; }
  .banner.error { border-left-color: var(--vscode-errorForeground); color: var(--vscode-errorForeground); }
  .banner.warn { border-left-color: var(--vscode-editorWarning-foreground); }
  .banner.ok { border-left-color: var(--vscode-testing-iconPassed, var(--vscode-focusBorder)); }
  .actions { display: flex; gap: 8px; margin-top: 12px; flex-wrap: wrap; align-items: center; }
  .state { font-weight: 600; text-transform: uppercase; }
  label { display: block; margin: 16px 0 4px; }
  vscode-textarea { width: 100%; }
  .keys { color: var(--vscode-descriptionForeground); font-size: 0.9em; }
  [hidden] { display: none !important; }
  #summary { margin: 8px 0 4px; }
  details { margin: 20px 0 0; border-top: 1px solid var(--vscode-panel-border, var(--vscode-contrastBorder, transparent)); padding-top: 8px; }
  summary { cursor: pointer; color: var(--vscode-descriptionForeground); }
  details[open] summary { margin-bottom: 8px; }
  summary:focus-visible, pre:focus-visible { outline: 1px solid var(--vscode-focusBorder); outline-offset: 2px; }`;

/** The approval panel's page, titled after the call it asks about. */
export function approvalHtml(options: { cspSource: string; nonce: string; scriptUri: string; title: string }): string {
  return webviewPage({ ...options, style: STYLE, loading: 'Loading the approval request…' });
}
