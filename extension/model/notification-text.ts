/**
 * A notification renders `[label](command:…)` (or https:, file:) in its message as a link that runs the command or
 * opens the target: a user's or an agent's name, a path, a model's choice of arguments or a command's output written
 * that way would put a link of its author's making in this user's notification. Breaking the `](` pair leaves the
 * text readable and no link in it. For every untrusted piece of a notification's message or progress text.
 */
export function inertLinks(text: string): string {
  return text.replace(/\]\(/g, '] (');
}
