import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { describeAuditVerdict, verifyLocalAuditLog } from '../connection/broker-cli';
import { decodeUserSecret } from '../identity/user-key';
import { command, type Services } from './services';
import { notify } from '../notify';

export function registerBrokerCommands(services: Services): vscode.Disposable[] {
  const { connection, log } = services;

  /** The local broker's audit log: known from the settings even if the broker never started; the CLI only once Node was found. */
  const localAuditLog = () => {
    const settings = connection.settings;
    if (settings?.mode === 'remote') {
      void notify.info('VaultysClaw: a team broker keeps its audit log on its own host (audit.log in its data directory); verify it there with `broker audit verify`.');
      return undefined;
    }
    const local = connection.local;
    const dataDir = local?.dataDir ?? (settings?.mode === 'local' ? connection.dataDirFor(settings) : undefined);
    if (!dataDir) {
      void notify.info('VaultysClaw: the local broker has not been configured yet; check the VaultysClaw settings.');
      return undefined;
    }
    return { cli: local?.cli, dataDir, file: join(dataDir, 'audit.log') };
  };

  return [
    command(services, 'vaultysclaw.restartBroker', async () => {
      log.info('restart requested');
      await connection.restart();
    }),

    command(services, 'vaultysclaw.showLog', () => log.show()),
    command(services, 'vaultysclaw.showBrokerLog', () => connection.brokerLog.show()),

    command(services, 'vaultysclaw.openAuditLog', async () => {
      const audit = localAuditLog();
      if (!audit) return;
      if (!existsSync(audit.file)) {
        void notify.warn(`VaultysClaw: there is no audit log at ${audit.file} yet.`);
        return;
      }
      await vscode.window.showTextDocument(vscode.Uri.file(audit.file), { preview: false });
    }),

    command(services, 'vaultysclaw.verifyAuditLog', async () => {
      const audit = localAuditLog();
      if (!audit) return;
      const cli = audit.cli;
      if (!cli) {
        void notify.warn('VaultysClaw: verifying needs the broker CLI, which runs on Node.js; the local broker has not started yet (see the VaultysClaw log).');
        return;
      }
      const report = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'VaultysClaw: verifying the audit log…' }, () =>
        verifyLocalAuditLog(cli, audit.dataDir, audit.file, connection.session?.brokerDid),
      );
      const verdict = describeAuditVerdict(report);
      log.info(verdict);
      if (report.ok) {
        void notify.info(`VaultysClaw: ${verdict}`);
        return;
      }
      const choice = await notify.error(`VaultysClaw: ${verdict}`, 'Open at Line');
      if (choice && report.failure) {
        const line = Math.max(0, report.failure.line - 1);
        await vscode.window.showTextDocument(vscode.Uri.file(audit.file), { selection: new vscode.Range(line, 0, line, 0), preview: false });
      }
    }),

    command(services, 'vaultysclaw.showIntent', async (arg) => {
      const id = typeof arg === 'string' ? arg : typeof (arg as { id?: unknown })?.id === 'string' ? String((arg as { id: string }).id).replace(/^intent:/, '') : undefined;
      if (!id) return;
      await vscode.commands.executeCommand('vaultysclaw.showResult', id);
    }),

    command(services, 'vaultysclaw.exportUserKey', async () => {
      const ok = await notify.warn(
        'Export your VaultysClaw user key?',
        { modal: true, detail: 'Whoever holds it can act as you on every broker you use. Keep it as you would a password, and delete copies you no longer need.' },
        'Save to File…',
        'Copy to Clipboard',
      );
      if (!ok) return;
      const { did, secret } = await connection.identities.exportSecret();
      if (ok === 'Copy to Clipboard') {
        await vscode.env.clipboard.writeText(secret);
        void notify.info(`VaultysClaw: key of ${did} copied to the clipboard.`);
        return;
      }
      const target = await vscode.window.showSaveDialog({ title: 'Save your VaultysClaw user key', saveLabel: 'Save Key', filters: { 'Key file': ['key'] } });
      if (!target) return;
      writeFileSync(target.fsPath, `${secret}\n`, { mode: 0o600 });
      chmodSync(target.fsPath, 0o600);
      void notify.info(`VaultysClaw: key of ${did} saved to ${target.fsPath} (mode 0600; usable with the CLI's --key).`);
    }),

    command(services, 'vaultysclaw.importUserKey', async () => {
      const how = await vscode.window.showQuickPick(
        [
          { label: '$(file) From a key file…', value: 'file' as const },
          { label: '$(clippy) Paste it', value: 'paste' as const },
        ],
        { title: 'Import a VaultysClaw user key' },
      );
      if (!how) return;
      let text: string | undefined;
      if (how.value === 'file') {
        const picked = await vscode.window.showOpenDialog({ title: 'Your VaultysClaw user key', canSelectMany: false, openLabel: 'Import' });
        if (!picked?.[0]) return;
        text = Buffer.from(await vscode.workspace.fs.readFile(picked[0])).toString('utf8');
      } else {
        text = await vscode.window.showInputBox({ title: 'Import a VaultysClaw user key', prompt: 'The base64 key (Export User Key, or a `broker keygen` file)', password: true, ignoreFocusOut: true });
      }
      if (!text) return;
      const incoming = decodeUserSecret(text);
      const current = (await connection.identities.exportSecret()).did;
      if (incoming.did === current) {
        void notify.info('VaultysClaw: that is already your key.');
        return;
      }
      const ok = await notify.warn(
        `Replace your user key?`,
        { modal: true, detail: `Current: ${current}\nNew: ${incoming.did}\n\nExport the current key first if you may need it again. The broker connection restarts with the new key.` },
        'Replace',
      );
      if (ok !== 'Replace') return;
      await connection.identities.import(text);
      await connection.restart();
    }),
  ];
}
