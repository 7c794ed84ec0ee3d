// A port on 127.0.0.1 for the demos: the preferred one if it is free, else one the OS picks.
import { createServer } from 'node:net';

export async function freePort(preferred) {
  for (const port of [preferred, 0]) {
    const found = await new Promise((done) => {
      const server = createServer();
      server.once('error', () => done(null));
      server.listen(port, '127.0.0.1', () => {
        const { port: bound } = server.address();
        server.close(() => done(bound));
      });
    });
    if (found !== null) return found;
  }
  throw new Error('no free port on 127.0.0.1');
}
