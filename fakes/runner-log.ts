// How the GitHub runner reads a step's stdout, ported from its documented behaviour and source
// (actions/runner: ActionCommand.TryParseV2 / TryParse, ActionCommandManager.TryProcessCommand, the
// secret masker), so tests see what a workflow log would really do with the action's output:
// - a line is read up to CR, LF or CRLF (and, to be strict, U+0085, U+2028, U+2029);
// - `::name props::data` is a command when the line starts with `::` after leading white space;
//   otherwise the legacy `##[name props]data` is a command wherever its first `##[` is in the line;
// - only registered command names count (case-insensitive); stop-commands turns processing off until
//   a line whose command is the token; add-mask then masks the value in every later line.
// The action itself never needs this: it is the test bed's model of the runner.

const REGISTERED = [
  'add-mask',
  'add-matcher',
  'add-path',
  'debug',
  'echo',
  'endgroup',
  'error',
  'group',
  'notice',
  'remove-matcher',
  'save-state',
  'set-env',
  'set-output',
  'stop-commands',
  'warning',
];

export interface RunnerCommand {
  command: string;
  properties: Record<string, string>;
  data: string;
  /** Which syntax the runner recognised. */
  form: '::' | '##[';
  line: number;
}

export interface RunnerLog {
  /** Every command the runner processed, in order (the resume token of stop-commands included). */
  commands: RunnerCommand[];
  /** Values registered with add-mask, in order. */
  masks: string[];
  /** The log as a person sees it: command lines that the runner swallows left out, masks applied. */
  visible: string[];
}

const unescapeData = (text: string): string => text.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%');
const unescapeProperty = (text: string): string =>
  text.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%3A/g, ':').replace(/%2C/g, ',').replace(/%25/g, '%');
const unescapeLegacy = (text: string): string =>
  text.replace(/%3B/g, ';').replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%5D/g, ']').replace(/%25/g, '%');

/**
 * `name key=value<sep>key=value`: the command (if registered) and its properties, as both parsers split
 * them (the `::` form trims the properties first, the legacy form does not).
 */
function commandInfo(
  info: string,
  separator: ',' | ';',
  unescapeValue: (text: string) => string,
  registered: Set<string>,
): { command: string; properties: Record<string, string> } | undefined {
  const space = info.indexOf(' ');
  const command = space < 0 ? info : info.slice(0, space);
  if (!registered.has(command.toLowerCase())) return undefined;
  const properties: Record<string, string> = {};
  if (space > 0) {
    for (const pair of info
      .slice(space + 1)
      .trim()
      .split(separator)
      .filter(Boolean)) {
      const at = pair.indexOf('=');
      if (at > 0 && at < pair.length - 1) properties[pair.slice(0, at)] = unescapeValue(pair.slice(at + 1));
    }
  }
  return { command, properties };
}

function parseV2(line: string, registered: Set<string>): Omit<RunnerCommand, 'line'> | undefined {
  const message = line.trimStart();
  if (!message.startsWith('::')) return undefined;
  const end = message.indexOf('::', 2);
  if (end < 0) return undefined;
  const parsed = commandInfo(message.slice(2, end), ',', unescapeProperty, registered);
  return parsed && { ...parsed, data: unescapeData(message.slice(end + 2)), form: '::' };
}

function parseLegacy(line: string, registered: Set<string>): Omit<RunnerCommand, 'line'> | undefined {
  const prefix = line.indexOf('##[');
  if (prefix < 0) return undefined;
  const close = line.indexOf(']', prefix);
  if (close < 0) return undefined;
  const parsed = commandInfo(line.slice(prefix + 3, close), ';', unescapeLegacy, registered);
  return parsed && { ...parsed, data: unescapeLegacy(line.slice(close + 1)), form: '##[' };
}

export function readRunnerLog(stdout: string): RunnerLog {
  const registered = new Set(REGISTERED);
  const log: RunnerLog = { commands: [], masks: [], visible: [] };
  let stopToken: string | undefined;
  const mask = (text: string): string => log.masks.reduce((shown, secret) => shown.split(secret).join('***'), text);
  stdout.split(/\r\n|\r|\n|\u0085|\u2028|\u2029/).forEach((line, index) => {
    const parsed = parseV2(line, registered) ?? parseLegacy(line, registered);
    if (!parsed) {
      log.visible.push(mask(line));
      return;
    }
    const name = parsed.command.toLowerCase();
    if (stopToken !== undefined) {
      if (name === stopToken.toLowerCase()) {
        registered.delete(stopToken.toLowerCase());
        stopToken = undefined;
        log.commands.push({ ...parsed, line: index + 1 });
      } else {
        log.visible.push(mask(line)); // not processed: shown as it is
      }
      return;
    }
    log.commands.push({ ...parsed, line: index + 1 });
    if (name === 'stop-commands') {
      stopToken = parsed.data;
      registered.add(parsed.data.toLowerCase());
    } else if (name === 'add-mask') {
      if (parsed.data.trim() !== '') log.masks.push(parsed.data);
    } else {
      log.visible.push(mask(line));
    }
  });
  return log;
}
