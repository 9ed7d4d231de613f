/**
 * The one way text the action did not write itself (labels, PR titles, key descriptions and ids from
 * Venice, error texts from Venice or GitHub) reaches the log, an annotation or the job summary.
 *
 * The runner treats a line as a workflow command when it starts with `::` (after white space), and the
 * legacy form `##[name]` anywhere in a line (actions/runner, ActionCommand.TryParse). So untrusted text
 * must never start a line, never contain `##[`, and never carry a line break of any kind. What is
 * removed stays readable: line breaks and other control characters become `\n`-style escapes, `##[`
 * becomes `#\#[`, and a leading `::` becomes `:\:`.
 */
// C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const MAX_LENGTH = 500;

export function safeText(untrusted: string): string {
  let text = untrusted.length > MAX_LENGTH ? `${untrusted.slice(0, MAX_LENGTH)}…` : untrusted;
  text = text.replace(CONTROL, (char) => NAMED[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
  // `##[` anywhere is a legacy command; a `#` at either end could join our own text into one.
  text = text.replace(/##\[/g, '#\\#[').replace(/^#\[/, '\\#[').replace(/#$/, '\\#');
  // `::` at the start of a line is a command; the text may be printed at the start of one.
  return text.replace(/^(\s*):/, '$1\\:');
}

/** A quoted form for messages: `"…"` around the neutralised text. */
export function quoted(untrusted: string): string {
  return `"${safeText(untrusted)}"`;
}

/** Untrusted text as a Markdown table cell: neutralised, then pipes, backticks and HTML escaped. */
export function markdownCell(untrusted: string): string {
  return safeText(untrusted).replace(/[\\`*_[\]<>|&]/g, (char) => `&#${char.charCodeAt(0)};`);
}
