// A separate agent process for the seen-intents tests: opens the database,
// claims one intent id, reports the outcome on stdout and ends the way the
// parent asks — `exit` (normal exit, database never closed), `kill` (SIGKILL
// straight after the claim, as in a crash) — optionally after waiting for a
// `go` line on stdin so several children race on the same id.
import { writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { openAgentDatabase } from '../../../../agent/store/agent-database';
import { SeenIntentStore } from '../../../../agent/store/seen-intents';

const [dbPath, id, issuedAt, ending, barrier] = process.argv.slice(2);
if (!dbPath || !id || !issuedAt || (ending !== 'exit' && ending !== 'kill')) {
  writeSync(2, 'usage: seen-intent-child <db> <id> <issuedAt> exit|kill [wait-for-go]\n');
  process.exit(2);
}

const store = new SeenIntentStore(openAgentDatabase(dbPath));

const claim = (): void => {
  const recorded = store.record(id, Number(issuedAt));
  // writeSync: the line must be out before a SIGKILL, with nothing left buffered.
  writeSync(1, `${JSON.stringify({ recorded })}\n`);
  if (ending === 'kill') process.kill(process.pid, 'SIGKILL');
  else process.exit(0);
};

if (barrier === 'wait-for-go') {
  writeSync(1, 'ready\n');
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (line === 'go') claim();
  });
} else {
  claim();
}
