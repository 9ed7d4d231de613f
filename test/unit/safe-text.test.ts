// The one printer for untrusted text, checked against the port of the runner's command parser: no text,
// wherever it is printed in a line, can make the runner see a command or start a new line.
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { markdownCell, quoted, safeText } from '../../core/safe-text.ts';
import { readRunnerLog } from '../../fakes/runner-log.ts';
import { escapeData } from '../../src/runner/runner-commands.ts';

const hostile = [
  '##[stop-commands]x',
  '::add-mask::a',
  '  ::warning::forged',
  'a\n::warning::forged',
  'a\r::set-output name=api-key::x',
  'a\u2028::warning::x',
  'a\u0085##[warning]x',
  'ends with #',
  '#[warning]x',
  '###[error]x',
];
const anyText = fc.oneof(fc.constantFrom(...hostile), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }));

test.each(hostile)('%j stays data: readable, one line, no command', (text) => {
  const shown = safeText(text);
  expect(shown).not.toMatch(/[\n\r\u0085\u2028\u2029]/);
  expect(shown).not.toContain('##[');
  expect(readRunnerLog(`${shown}`).commands).toEqual([]);
  expect(readRunnerLog(`PR #${shown}`).commands).toEqual([]);
});

test('any text, printed at the start, middle or end of a line or in an annotation, issues no command', () => {
  fc.assert(
    fc.property(anyText, fc.constantFrom('', 'key ', 'PR #', '  '), fc.constantFrom('', ' [x]', ']'), (text, before, after) => {
      const line = `${before}${safeText(text)}${after}`;
      expect(readRunnerLog(line).commands).toEqual([]);
      expect(readRunnerLog(line).visible).toHaveLength(1);
      const warning = readRunnerLog(`::warning::${escapeData(`venice-ephemeral-key: ${quoted(text)}`)}`);
      expect(warning.commands.map((c) => c.command)).toEqual(['warning']);
    }),
    { numRuns: 2_000 },
  );
});

test('Markdown cells cannot break the table or inject markup', () => {
  expect(markdownCell('a | b `c` <img src=x> [l](u)')).toBe('a &#124; b &#96;c&#96; &#60;img src=x&#62; &#91;l&#93;(u)');
  expect(markdownCell('two\nlines')).toBe('two&#92;nlines');
});

test('long texts are cut', () => {
  expect(safeText('x'.repeat(600))).toHaveLength(501);
});
