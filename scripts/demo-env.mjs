import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * `env.sh` in a demo directory, for the README's "Two users" flow (`source $VAULTYSCLAW_DEMO_DIR/env.sh`): the hub
 * URL and broker DID a user pins, the demo agent's DID, and the broker's data directory for the owner's commands.
 * Written by `npm start` and `npm run demo` alike, so the README's block runs against either.
 */
export function writeDemoEnv(demoDir, { url, brokerDid, agentDid, brokerDir }) {
  writeFileSync(
    join(demoDir, 'env.sh'),
    `export VAULTYSCLAW_URL=${url}\nexport VAULTYSCLAW_BROKER_DID=${brokerDid}\nexport DEMO_DIR=${demoDir}\nexport DEMO_AGENT=${agentDid}\nexport DEMO_BROKER_DIR=${brokerDir}\n`,
  );
}
