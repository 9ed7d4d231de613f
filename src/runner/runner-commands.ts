/**
 * The runner's workflow commands, written from their documented protocol rather than through
 * @actions/core: its public entry also loads an HTTP client, undici and @actions/exec (for OIDC tokens
 * and platform details this action does not use), which would cost every step start-up time. This is
 * the whole of what the action needs: stdout commands (`::name::data`, data escaped as the runner
 * unescapes it) and the file commands (GITHUB_OUTPUT, GITHUB_STATE, GITHUB_ENV) with a random delimiter.
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { EOL } from 'node:os';

/** `%`, CR and LF are what the runner unescapes in a command's data (ActionCommand.UnescapeData). */
export function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

export function issueCommand(name: string, data: string): void {
  process.stdout.write(`::${name}::${escapeData(data)}${EOL}`);
}

/** The runner passes input `name` as INPUT_<NAME> (spaces as underscores, hyphens kept). */
export function getInput(name: string): string {
  return (process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim();
}

export function getState(name: string): string {
  return process.env[`STATE_${name}`] ?? '';
}

export function info(message: string): void {
  process.stdout.write(message + EOL);
}

/**
 * `name<<delimiter` blocks; the delimiter is random and checked against the value, as the runner
 * requires, so no value can end the block early and write another name.
 */
function fileCommand(variable: 'GITHUB_OUTPUT' | 'GITHUB_STATE' | 'GITHUB_ENV', name: string, value: string): void {
  const file = process.env[variable];
  if (!file) throw new Error(`${variable} is not set; this action needs a runner that supports node24 actions`);
  const delimiter = `ghadelimiter_${randomUUID()}`;
  if (name.includes(delimiter) || value.includes(delimiter)) throw new Error('a value contains the file-command delimiter');
  appendFileSync(file, `${name}<<${delimiter}${EOL}${value}${EOL}${delimiter}${EOL}`, { encoding: 'utf8' });
}

export const setOutput = (name: string, value: string): void => fileCommand('GITHUB_OUTPUT', name, value);
export const saveState = (name: string, value: string): void => fileCommand('GITHUB_STATE', name, value);

export function exportVariable(name: string, value: string): void {
  process.env[name] = value;
  fileCommand('GITHUB_ENV', name, value);
}

/** The job summary is Markdown this action writes itself (summary.ts), appended to GITHUB_STEP_SUMMARY. */
export function appendSummary(markdown: string): void {
  const file = process.env.GITHUB_STEP_SUMMARY;
  if (file) appendFileSync(file, markdown);
}
