import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, writeUserSettings } from '../support/code-server';
import { runSettings, type RunConfig } from './run-config';

/** A run folder for either runner: the suite's config, its workspace, and the settings that point the extension at them. */
export async function prepareRun(runDir: string): Promise<RunConfig> {
  const config: RunConfig = {
    resultsFile: join(runDir, 'results.json'),
    dataDir: join(runDir, 'broker'),
    hubPort: await freePort(),
    nodePath: process.execPath,
    workspace: join(runDir, 'workspace'),
    userDataDir: join(runDir, 'user-data'),
  };
  mkdirSync(config.workspace, { recursive: true });
  writeUserSettings(config.userDataDir, runSettings(config));
  return config;
}
