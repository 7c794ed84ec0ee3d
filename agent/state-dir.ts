import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { IdType, SecretIdentity, readKeyFile, writeKeyFile } from '../core/identity';
import { ensurePrivateDirectory, sharedDirectoryProblem } from '../core/storage/private-files';
import { Did } from '../core/wire/common';

export const AGENT_KEY_FILE = 'agent.key';
export const PIN_FILE = 'broker-pin.json';
const WHAT = 'agent state directory';

const PinRecord = z.strictObject({
  /** The broker's root (an organization DID) or, for agents enrolled before roots, the broker's own DID. */
  brokerDid: Did.nullable(),
  trustOnFirstUse: z.boolean(),
  pinnedAt: z.number().int().nullable(),
  /** The broker DID this agent pinned before it moved to the root. */
  migratedFrom: Did.optional(),
  /** Online broker ids the root revoked, with its reason: refused even if a broker presents a valid certificate for them. */
  revokedBrokers: z.record(Did, z.string()).optional(),
  /** Online broker ids a rotation replaced: going back to one is a downgrade. */
  supersededBrokers: z.array(Did).optional(),
  /** Per root: the newest broker certificate seen (serial and id); a lower serial is a downgrade. */
  newestCertificates: z.record(Did, z.strictObject({ serial: z.number().int().positive(), broker: Did })).optional(),
});
export type PinRecord = z.infer<typeof PinRecord>;

export function defaultStateDir(): string {
  return resolve(process.env.VAULTYSCLAW_AGENT_DIR ?? join(homedir(), '.vaultysclaw', 'agent'));
}

/** The agent's state directory: its key (0600) and the broker it pins. */
export class AgentStateDir {
  constructor(readonly path: string) {}

  create(pin: PinRecord): SecretIdentity {
    ensurePrivateDirectory(this.path, WHAT);
    const identity = SecretIdentity.generate(IdType.Machine);
    writeKeyFile(join(this.path, AGENT_KEY_FILE), identity);
    this.writePin(pin);
    return identity;
  }

  /** Refuses a state directory other users may enter or write: they could read a database an earlier version left 0644, or swap the pin. */
  checkPrivate(): void {
    const problem = sharedDirectoryProblem(this.path, WHAT);
    if (problem) throw new Error(problem);
  }

  identity(): SecretIdentity {
    return readKeyFile(join(this.path, AGENT_KEY_FILE));
  }

  pin(): PinRecord {
    const file = join(this.path, PIN_FILE);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new Error(`cannot read the broker pin ${file}: ${(err as Error).message}; run "agent init" first`);
    }
    const parsed = PinRecord.safeParse(raw);
    if (!parsed.success) throw new Error(`the broker pin ${file} is malformed; run "agent init" again`);
    return parsed.data;
  }

  /** Atomic, like the key file: a crash never leaves the agent without its pin. */
  writePin(pin: PinRecord): void {
    const file = join(this.path, PIN_FILE);
    const temp = `${file}.tmp`;
    writeFileSync(temp, `${JSON.stringify(pin, null, 2)}\n`, { mode: 0o600 });
    renameSync(temp, file);
  }
}
