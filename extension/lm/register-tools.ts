import * as vscode from 'vscode';
import { intentResultText, refusalText } from '../../core/rpc/model-result-text';
import { visibleText } from '../../core/text/untrusted-text';
import type { Services } from '../commands/services';
import { describeRpcError, rpcErrorCode, type BrokerSession } from '../connection/broker-session';
import { dispatchAndWaitFinal } from '../model/dispatch-wait';
import { soloReview } from '../model/solo-review';
import { ProgressLog } from '../results/progress-log';
import { taskSteps } from '../results/result-view-model';
import { agentsText } from './agents-text';
import { checkDispatch, confirmation, dryRunLine, type DispatchInput } from './dispatch-input';
import { LM_TOOLS } from './tool-names';
import { notConnectedText } from './tool-text';

const text = (t: string) => new vscode.LanguageModelToolResult([new vscode.LanguageModelTextPart(t)]);

/**
 * The editor's AI as one more way for the user to dispatch (issue 18): the same session, key, gates, rules and
 * approvals as the palette (dispatchAndWaitFinal), the intent marked `via: "vscode-lm"`, each call shown in VS Code's
 * confirmation first. Everything goes back to the model as text, refusals included: a throw would tell it nothing.
 * The result view is not opened per call (a model may call many times); the Activity row opens it.
 */
export function registerLanguageModelTools(services: Services): vscode.Disposable[] {
  const { connection, model } = services;
  const session = (): BrokerSession | { why: string } => {
    const s = connection.session;
    if (s && model.connected) return s;
    const state = connection.supervisor.state;
    return { why: state.kind === 'disconnected' ? state.reason : state.kind === 'connecting' ? 'still connecting' : 'stopped' };
  };

  const listAgents: vscode.LanguageModelTool<Record<string, never>> = {
    invoke: () => {
      const s = session();
      return text('why' in s ? notConnectedText(s.why) : agentsText(model.agents()));
    },
  };

  const dispatch: vscode.LanguageModelTool<DispatchInput> = {
    // Read-only (a dry run at most): VS Code may call it without invoke following.
    prepareInvocation: async (options) => {
      const s = session();
      if ('why' in s) return { invocationMessage: 'VaultysClaw is not connected: nothing will be sent' };
      const checked = checkDispatch(model.agents(), options.input);
      if (!checked.ok) return { invocationMessage: `VaultysClaw: not sent (${checked.problem})` };
      const request = { agent: checked.agent.did, capability: checked.call.capability, params: checked.call.params as Record<string, unknown> };
      const dry = await s.call('policyTest', request).catch(() => undefined);
      const solo = dry ? soloReview(dry, s.user.did, model.users()) : undefined;
      const shown = confirmation(checked.agent, checked.call, dry && dryRunLine(dry, solo?.deadEnd ? solo.message : undefined));
      // What the person was asked to confirm, kept in the log (no secret is in it: paramsShown hides them).
      services.log.info(`language model tool confirmation: ${JSON.stringify(shown)}`);
      return { invocationMessage: `VaultysClaw: ${checked.call.capability} on ${visibleText(checked.agent.name)}`, confirmationMessages: shown };
    },

    invoke: async (options, token) => {
      const s = session();
      if ('why' in s) return text(notConnectedText(s.why));
      const checked = checkDispatch(model.agents(), options.input);
      if (!checked.ok) return text(`Not sent: ${checked.problem}.`);
      if (token.isCancellationRequested) return text('Cancelled before anything was sent.');
      const agentName = visibleText(checked.agent.name);
      const progressLog = new ProgressLog();
      let cancelProblem: string | undefined;
      try {
        const final = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `VaultysClaw: ${checked.call.capability} on ${agentName} (asked by the editor's AI)` }, (progress) =>
          dispatchAndWaitFinal(s, model, { agent: checked.agent.did, capability: checked.call.capability, params: checked.call.params as Record<string, unknown>, via: 'vscode-lm' }, token, {
            status: (status) => progress.report({ message: status.message }),
            progress: (p) => progressLog.add(p),
            cancelRefused: (err) => (cancelProblem = describeRpcError(err)),
          }),
        );
        if (!final) return text(`The cancel was refused (${cancelProblem ?? 'no reason given'}); the intent ended on its own: its outcome is in the VaultysClaw Activity view.`);
        // A task's steps are not in its signed result: only this window saw them stream. A refusal reads "Refused: …" as text (no isError here).
        const steps = final.capability === 'llm_task' ? taskSteps(progressLog.entries(final.id), [], (did) => model.agent(did)?.name ?? model.user(did)?.name) : [];
        return text(intentResultText(final, checked.agent.name, { steps, stepsDropped: progressLog.dropped(final.id) }).text);
      } catch (err) {
        // The broker refused the request itself (a role that may not dispatch, a malformed call): words, not a throw.
        if (rpcErrorCode(err) !== undefined) return text(refusalText(`the broker refused the request: ${describeRpcError(err)}`, null, 'Ask the user: their role or this broker does not allow it.'));
        // The wait ended without an outcome (the connection went, the wait timed out): the intent may still end.
        return text(`No result: ${describeRpcError(err)}. The intent's outcome will show in the VaultysClaw Activity view; do not send it again without asking the user.`);
      }
    },
  };

  return [vscode.lm.registerTool(LM_TOOLS.listAgents, listAgents), vscode.lm.registerTool(LM_TOOLS.dispatch, dispatch)];
}
