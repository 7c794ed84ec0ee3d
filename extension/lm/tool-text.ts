/**
 * The one answer of the language model tools that only the editor has: no broker session, so nothing can be signed.
 * Results and refusals are worded in core (core/rpc/model-result-text.ts), the same for the MCP server.
 */
export function notConnectedText(why: string): string {
  return `Not sent: VaultysClaw is not connected to a broker (${why.replace(/\.$/, '')}), so nothing was signed or sent. Ask the user to connect: "VaultysClaw: Restart Broker" for the local broker, or "VaultysClaw: Join Team Broker with Invitation" for a team broker; then try again.`;
}
