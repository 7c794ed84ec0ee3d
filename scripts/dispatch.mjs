// `npm run dispatch -- <capability> '<json params>'`: dispatches an intent to the demo agent started by `npm start`.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const demo = resolve(process.env.VAULTYSCLAW_DEMO_DIR ?? join(root, '.vaultysclaw', 'demo'));
let agent;
try {
  agent = readFileSync(join(demo, 'agent-did'), 'utf8').trim();
} catch {
  process.stderr.write('dispatch: no demo is running; start one with `npm start`\n');
  process.exit(1);
}
const [capability, params = '{}'] = process.argv.slice(2);
if (!capability) {
  process.stderr.write("usage: npm run dispatch -- <capability> '<json params>'\n");
  process.exit(1);
}
const run = spawnSync(process.execPath, [join(root, 'dist', 'broker.js'), 'dispatch', agent, capability, params, '--data-dir', join(demo, 'broker')], {
  stdio: 'inherit',
});
process.exit(run.status ?? 1);
