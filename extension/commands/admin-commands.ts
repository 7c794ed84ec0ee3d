import * as vscode from 'vscode';
import { BUDGETS } from '../../core/budgets';
import { allPages } from '../../core/rpc/pages';
import { mayAssign, Role } from '../../core/rpc/roles';
import { CAPABILITIES, type Capability } from '../../core/wire/policy';
import { agentHubUrl, enrollmentCommands } from '../enrollment';
import { checkDays } from '../policy-choice';
import { shortDid } from '../model/tree-node';
import { shortFingerprint, visibleText } from '../../core/text/untrusted-text';
import { command, didArgument, pickAgent, type Services } from './services';
import { localOperatorAmong } from '../model/local-operator';
import { notify } from '../notify';

const DAY_MS = 24 * 60 * 60_000;

export function registerAdminCommands(services: Services): vscode.Disposable[] {
  const { connection, model } = services;
  return [
    command(services, 'vaultysclaw.grantDelegation', async (arg) => {
      const session = await connection.requireSession('grant a delegation');
      if (!session) return;
      const users = (await allPages((cursor) => session.call('usersList', { limit: BUDGETS.listPageItems.limit, cursor }))).filter((u) => !u.removed);
      const user = await vscode.window.showQuickPick(
        users.map((u) => ({ label: visibleText(u.name), description: `${u.role} · ${shortFingerprint(u.did)}`, detail: localOperatorAmong([u.name]), did: u.did })),
        { title: 'Grant a delegation (1/4)', placeHolder: 'Which user may dispatch?', matchOnDescription: true },
      );
      if (!user) return;
      const preset = didArgument(arg);
      const agents = model.agents().filter((a) => a.status === 'approved');
      const agent = preset
        ? { did: preset }
        : await vscode.window.showQuickPick(
            [{ label: '$(globe) Every agent', description: '*', did: '*' }, ...agents.map((a) => ({ label: visibleText(a.name), description: shortFingerprint(a.did), did: a.did }))],
            { title: 'Grant a delegation (2/4)', placeHolder: 'On which agent?' },
          );
      if (!agent) return;
      const caps = await vscode.window.showQuickPick(
        CAPABILITIES.map((c) => ({ label: c, capability: c as Capability })),
        { title: 'Grant a delegation (3/4)', placeHolder: 'Capabilities the user may dispatch', canPickMany: true },
      );
      if (!caps?.length) return;
      const days = await vscode.window.showInputBox({ title: 'Grant a delegation (4/4)', prompt: 'Valid for how many days', value: '30', validateInput: checkDays });
      if (!days) return;
      const grant = await session.call('grantsCreate', { user: user.did, agent: agent.did, capabilities: caps.map((c) => c.capability), validForMs: Math.round(Number(days) * DAY_MS) });
      void notify.info(
        `VaultysClaw: ${user.label} may dispatch ${grant.capabilities.join(', ')} on ${grant.agent === '*' ? 'every agent' : shortDid(grant.agent)} until ${new Date(grant.expiresAt).toLocaleString()} (signed delegation ${grant.id.slice(0, 8)}).`,
      );
    }),

    command(services, 'vaultysclaw.inviteUser', async () => {
      const session = await connection.requireSession('invite a user');
      if (!session) return;
      const roles = Role.options.filter((r) => mayAssign(session.role, r));
      const role = (await vscode.window.showQuickPick(roles, { title: 'Invite a user (1/2)', placeHolder: 'Role of the new user' })) as Role | undefined;
      if (!role) return;
      const days = await vscode.window.showInputBox({ title: 'Invite a user (2/2)', prompt: 'The invitation holds for how many days', value: '7', validateInput: (v) => (Number(v) > 0 && Number(v) <= 30 ? undefined : 'from 1 to 30 days') });
      if (!days) return;
      const created = await session.call('invitationsCreate', { role, validForMs: Math.round(Number(days) * DAY_MS) });
      await vscode.env.clipboard.writeText(created.token);
      await notify.info(
        `Invitation for a ${role} copied to the clipboard.`,
        {
          modal: true,
          detail: `${created.token}\n\nIt works once, until ${new Date(created.invitation.expiresAt).toLocaleString()}. Give it to the user privately; they join with "VaultysClaw: Join Team Broker with Invitation" (or the CLI's join --invitation-file -). It is shown only now.`,
        },
      );
    }),

    command(services, 'vaultysclaw.showEnrollmentCommand', async () => {
      const session = await connection.requireSession('show the enrollment command');
      if (!session) return;
      const info = await session.call('brokerInfo', {});
      const settings = connection.settings;
      const hub = agentHubUrl(info.hubUrl, settings?.mode === 'remote' ? settings.brokerUrl : null);
      if (!hub) {
        void notify.warn('VaultysClaw: this broker reports no agent hub URL.');
        return;
      }
      // A broker with a root is pinned by its root, so its agents survive rotations of the broker id.
      const lines = enrollmentCommands({ brokerDid: info.root ?? info.did, hubUrl: hub, workspace: '<workspace dir>' });
      await vscode.env.clipboard.writeText(lines.text);
      await notify.info('Enrollment commands copied to the clipboard.', {
        modal: true,
        detail: `On the build machine, from the VaultysClaw folder:\n\n${lines.init}\n${lines.start}\n\nThe agent pins this broker (${info.root ? `root ${info.root}` : info.fingerprint}) and appears here as a pending registration.`,
      });
    }),

    command(services, 'vaultysclaw.showBrokerIdentity', async () => {
      const session = await connection.requireSession('show the broker identity');
      if (!session) return;
      const info = await session.call('brokerInfo', {});
      const choice = await notify.info(
        `VaultysClaw broker ${info.did}`,
        {
          modal: true,
          detail:
            `DID: ${info.did}\nFingerprint: ${info.fingerprint}\n` +
            (info.root ? `Root (pin this): ${info.root}\nRoot certificate: serial ${info.certificate?.serial}, expires ${new Date(info.certificate?.expiresAt ?? 0).toISOString()}\n` : '') +
            `Agent hub: ${info.hubUrl ?? 'none'}\n\nYou: ${visibleText(session.user.name)} (${session.role}), ${session.user.did}`,
        },
        'Copy DID',
        'Copy Fingerprint',
      );
      if (choice === 'Copy DID') await vscode.env.clipboard.writeText(info.did);
      if (choice === 'Copy Fingerprint') await vscode.env.clipboard.writeText(info.fingerprint);
    }),

    command(services, 'vaultysclaw.removeAgent', async (arg) => {
      const session = await connection.requireSession('remove an agent');
      if (!session) return;
      const agent = await pickAgent(services, arg, (a) => a.status === 'revoked' || a.status === 'rejected', 'Remove from the list');
      if (!agent) return;
      const ok = await notify.warn(
        `Remove ${visibleText(agent.name)} (${agent.status}) from the list?`,
        { modal: true, detail: `${agent.did}\n\nIts key stays ${agent.status}: it cannot register again. The audit log keeps its whole history, and its removal.` },
        'Remove',
      );
      if (ok !== 'Remove') return;
      model.noteAgent(await session.call('agentsRemove', { did: agent.did }));
      void vscode.window.setStatusBarMessage(`VaultysClaw: removed ${visibleText(agent.name)} from the list`, 5000);
    }),

    command(services, 'vaultysclaw.joinBroker', async () => {
      const token = await vscode.window.showInputBox({
        title: 'Join a team broker',
        prompt: 'The invitation token an admin gave you (vaultysclaw.brokerUrl and vaultysclaw.brokerDid must name the broker)',
        password: true,
        ignoreFocusOut: true,
        validateInput: (v) => (/^[A-Za-z0-9_-]{43}$/.test(v.trim()) ? undefined : 'an invitation token is 43 characters of base64url'),
      });
      if (!token) return;
      connection.useInvitation(token.trim());
      await connection.restart();
    }),
  ];
}
