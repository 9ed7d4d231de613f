import { appendFileSync } from 'node:fs';
import { EOL } from 'node:os';
// @actions/core's own command and file-command modules, imported without its index: the index also
// loads @actions/http-client (with a full build of undici), tunnel and @actions/exec, for OIDC tokens and
// platform details this action never uses, and that costs every step start-up time (README, Performance).
// The functions below are the three-line glue of @actions/core's index, for the calls this action makes.
import { issueCommand } from '../node_modules/@actions/core/lib/command.js';
import { issueFileCommand, prepareKeyValueMessage } from '../node_modules/@actions/core/lib/file-command.js';

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

export function debug(message: string): void {
  issueCommand('debug', {}, message);
}

export function warning(message: string): void {
  issueCommand('warning', {}, message);
}

export function setFailed(message: string): void {
  process.exitCode = 1;
  issueCommand('error', {}, message);
}

export function startGroup(name: string): void {
  issueCommand('group', {}, name);
}

export function endGroup(): void {
  issueCommand('endgroup', {}, '');
}

export function setSecret(secret: string): void {
  issueCommand('add-mask', {}, secret);
}

/** GITHUB_OUTPUT, GITHUB_STATE and GITHUB_ENV are set by every runner that supports node24 actions. */
function fileCommand(file: 'OUTPUT' | 'STATE' | 'ENV', name: string, value: string): void {
  issueFileCommand(file, prepareKeyValueMessage(name, value));
}

export const setOutput = (name: string, value: string): void => fileCommand('OUTPUT', name, value);
export const saveState = (name: string, value: string): void => fileCommand('STATE', name, value);
/**
 * The job summary is markdown this action writes itself (summary.ts), so it is appended directly:
 * @actions/core's summary builder would also load fs/promises (and with it readline) at start-up.
 */
export function appendSummary(markdown: string): void {
  const file = process.env.GITHUB_STEP_SUMMARY;
  if (file) appendFileSync(file, markdown);
}

export function exportVariable(name: string, value: string): void {
  process.env[name] = value;
  fileCommand('ENV', name, value);
}
