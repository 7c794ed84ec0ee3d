import { isAbsolute } from 'node:path';
import { parsePin } from '../core/identity';
import { normalizeFingerprint } from '../core/wire/broker-tls';
import { brokerUrlProblem } from '../core/wire/broker-url';
import { UserName } from '../core/rpc/user-auth';

/** The extension's settings as package.json declares them (contributes.configuration), before checking. */
export interface RawSettings {
  brokerMode: unknown;
  brokerUrl: unknown;
  brokerDid: unknown;
  allowPlainWs: unknown;
  brokerCaFile: unknown;
  brokerTlsPin: unknown;
  nodePath: unknown;
  dataDir: unknown;
  hubPort: unknown;
  stalenessWindow: unknown;
  userName: unknown;
}

export type Settings =
  | { mode: 'local'; nodePath: string; dataDir: string | null; hubPort: number; stalenessMs: number; userName: string | null }
  | { mode: 'remote'; brokerUrl: string; brokerDid: string; tls: RemoteTls | null; nodePath: string; stalenessMs: number; userName: string | null };

/** How the team broker's TLS certificate is checked, beyond the system's CAs. */
export interface RemoteTls {
  caFile: string | null;
  pinSha256: string | null;
}

export type SettingsCheck = { ok: true; settings: Settings } | { ok: false; problems: string[] };

const text = (v: unknown) => (typeof v === 'string' ? v.trim() : '');

/** Checks the settings together and says, per setting, what is wrong with them. */
export function validateSettings(raw: RawSettings): SettingsCheck {
  const problems: string[] = [];
  const mode = raw.brokerMode === undefined || raw.brokerMode === null || raw.brokerMode === '' ? 'local' : raw.brokerMode;
  if (mode !== 'local' && mode !== 'remote') problems.push(`vaultysclaw.brokerMode must be "local" or "remote", not ${JSON.stringify(raw.brokerMode)}.`);
  const nodePath = text(raw.nodePath);
  if (nodePath && !isAbsolute(nodePath)) problems.push(`vaultysclaw.nodePath must be an absolute path (or empty to use Node from PATH), not "${nodePath}".`);
  const stalenessSeconds = raw.stalenessWindow === undefined ? 300 : Number(raw.stalenessWindow);
  if (!Number.isFinite(stalenessSeconds) || stalenessSeconds <= 0) problems.push('vaultysclaw.stalenessWindow must be a positive number of seconds.');
  const userName = text(raw.userName) || null;
  const nameCheck = userName ? UserName.safeParse(userName) : undefined;
  if (nameCheck && !nameCheck.success) problems.push(`vaultysclaw.userName: ${nameCheck.error.issues[0]?.message ?? 'invalid'}.`);
  const stalenessMs = Math.round(stalenessSeconds * 1000);

  if (mode === 'remote') {
    const brokerUrl = text(raw.brokerUrl);
    const brokerDid = parsePin(text(raw.brokerDid));
    if (!brokerUrl) problems.push('vaultysclaw.brokerUrl is empty: give the team broker\'s URL (wss://host:port).');
    else {
      const urlProblem = brokerUrlProblem(brokerUrl, raw.allowPlainWs === true, 'turn on vaultysclaw.allowPlainWs');
      if (urlProblem) problems.push(`vaultysclaw.brokerUrl: ${urlProblem}.`);
    }
    const caFile = text(raw.brokerCaFile) || null;
    if (caFile && !isAbsolute(caFile)) problems.push(`vaultysclaw.brokerCaFile must be an absolute path to a PEM file (or empty for the system's CAs), not "${caFile}".`);
    const pinText = text(raw.brokerTlsPin);
    const pinSha256 = pinText ? normalizeFingerprint(pinText) : null;
    if (pinText && !pinSha256) problems.push('vaultysclaw.brokerTlsPin must be the SHA-256 fingerprint of the broker\'s TLS certificate (64 hex digits, colons allowed).');
    if (!brokerDid) problems.push('vaultysclaw.brokerDid must be the team broker\'s DID or fingerprint (ask its admin: `broker identity`); the extension refuses any broker that proves another key.');
    if (problems.length) return { ok: false, problems };
    const tls = caFile || pinSha256 ? { caFile, pinSha256 } : null;
    return { ok: true, settings: { mode: 'remote', brokerUrl, brokerDid: brokerDid!, tls, nodePath, stalenessMs, userName } };
  }
  const dataDir = text(raw.dataDir) || null;
  if (dataDir && !isAbsolute(dataDir)) problems.push(`vaultysclaw.dataDir must be an absolute path (or empty for the extension's own storage), not "${dataDir}".`);
  const hubPort = raw.hubPort === undefined ? 8080 : Number(raw.hubPort);
  if (!Number.isInteger(hubPort) || hubPort < 0 || hubPort > 65535) problems.push('vaultysclaw.hubPort must be a port number from 0 to 65535 (0 picks a free one).');
  if (problems.length) return { ok: false, problems };
  return { ok: true, settings: { mode: 'local', nodePath, dataDir, hubPort, stalenessMs, userName } };
}
