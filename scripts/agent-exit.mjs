// What the demos say when their agent process ends: they keep serving (the broker, the workbench) and print the
// commands that bring an agent back. Exit code 3 is the agent's "registration ended" (revoked or rejected): that key
// is refused for good, so it enrols again under a new state directory (a new key), as a fresh pending registration.
import { join } from 'node:path';

const quote = (s) => (/^[A-Za-z0-9_./:=,@-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The message for an agent that exited with `code`; `start` is the argv of its `agent.js start` after the script. */
export function agentExitMessage({ root, code, signal, brokerDid, stateDir, startArgs, log }) {
  const agentJs = join(root, 'dist', 'agent.js');
  const command = (args) => ['node', agentJs, ...args].map(quote).join(' ');
  if (code === 3) {
    const fresh = `${stateDir}-${Date.now().toString(36)}`;
    const args = [...startArgs];
    args[args.indexOf('--state-dir') + 1] = fresh;
    return `
▸ the agent's registration ended (revoked or rejected): its key is refused from now on${log ? ` (see ${log})` : ''}.
  Everything else keeps running. To enroll an agent again (a new key, so a new pending registration), run:

    ${command(['init', '--state-dir', fresh, '--broker', brokerDid])}
    ${command(['start', ...args])}

  Then approve it as before. Ctrl-C stops the demo.`;
  }
  return `
▸ the agent exited (${signal ?? `code ${code}`})${log ? `; see ${log}` : ''}. Everything else keeps running. To start it again:

    ${command(['start', ...startArgs])}`;
}
