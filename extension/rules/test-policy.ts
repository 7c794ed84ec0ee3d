import * as vscode from 'vscode';
import { notify } from '../notify';
import { visibleText } from '../../core/text/untrusted-text';
import { CAPABILITIES, type Capability } from '../../core/wire/policy';
import { askParams } from '../commands/ask-params';
import { showReadOnly } from '../commands/agent-commands';
import { command, pickAgent, type Services } from '../commands/services';
import { toolSummary } from '../model/approvals-tree';
import { verdictDetails, verdictHeadline } from './policy-test-text';

/**
 * VaultysClaw: Test Policy: the dry run (policy/test) for a call typed as Dispatch Intent asks for it. The broker
 * answers with the same gates and rules as a real dispatch, and signs, records and sends nothing.
 */
export function registerTestPolicy(services: Services): vscode.Disposable {
  return command(services, 'vaultysclaw.testPolicy', async (arg) => {
    const session = await services.connection.requireSession('test the policy');
    if (!session) return;
    const agent = await pickAgent(services, arg, (a) => a.status === 'approved', 'Test the policy of');
    if (!agent) return;
    const name = visibleText(agent.name);
    const granted = agent.policy?.capabilities ?? [];
    // Capabilities not granted are offered too: the answer then says which gate refuses them.
    const capability = (
      await vscode.window.showQuickPick(
        [...CAPABILITIES].sort((a, b) => Number(!granted.includes(a)) - Number(!granted.includes(b))).map((c) => ({ label: c, description: granted.includes(c) ? '' : 'not granted' })),
        { title: `Test the policy of ${name}`, placeHolder: 'Capability of the call to test' },
      )
    )?.label as Capability | undefined;
    if (!capability) return;
    const params = await askParams(capability, name);
    if (!params) return;
    const result = await session.call('policyTest', { agent: agent.did, capability, params });
    const call = { agentName: name, capability, summary: toolSummary(capability, params), asUser: visibleText(session.user.name) };
    const headline = `VaultysClaw: ${verdictHeadline(result, call)}`;
    const details = 'Show Details';
    const show = result.verdict === 'refused' ? notify.warn : notify.info;
    if ((await show(headline, details)) === details) await showReadOnly(verdictDetails(result, call), `test-policy ${capability} ${agent.did.slice(-8)}.txt`);
  });
}
