import type { RulesProblem } from '../policy/rules';

/** Where in a rule set a problem is, as people read it: run_command.rules[2].examples.matches[0]. */
export const rulesProblemPath = (path: RulesProblem['path']): string =>
  path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${p}`)).join('');

/** A problem in one line, the same words from the broker (policy/set) and the CLI (--rules-file): `rules.<path>: <message>`. */
export const rulesProblemText = (problem: RulesProblem): string =>
  problem.path.length > 0 ? `rules.${rulesProblemPath(problem.path)}: ${problem.message}` : `rules: ${problem.message}`;
