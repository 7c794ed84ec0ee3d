// Child of test/agent/log.test.ts: writes one line through the agent's logger (to fd 2) with the fields in argv[2].
import { createAgentLogger } from '../../../agent/log';

createAgentLogger('info').info(JSON.parse(process.argv[2]!) as Record<string, unknown>, 'an event carrying secrets');
