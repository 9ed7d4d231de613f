// A step's stdout as a GitHub job log shows it: workflow commands taken out (each ::add-mask:: said in
// words, a group shown by its title), every masked value replaced by *** from then on. Used by `npm run demo` and `npm run try`.
import type { StepResult } from './runner.ts';

export class JobLog {
  private readonly masks: string[] = [];
  private readonly name: (secret: string) => string;

  /** `name` says what a masked value is (the new key, the admin key …), for the line that replaces it. (No parameter property: Node runs this file with its types stripped.) */
  constructor(name: (secret: string) => string) {
    this.name = name;
  }

  show(step: StepResult, print: (line: string) => void = console.log): void {
    for (const line of step.stdout.split('\n')) {
      const mask = /^::add-mask::(.*)$/.exec(line);
      if (mask) {
        const secret = mask[1] ?? '';
        this.masks.push(secret);
        print(`  (masked ${this.name(secret)}: from here on GitHub shows it as ***)`);
        continue;
      }
      if (line === '::endgroup::') continue;
      // A group is a fold in GitHub's log: its title is what shows.
      const shown = this.masked(line.replace(/^::group::/, '▸ '));
      if (shown) print(`  | ${shown}`);
    }
  }

  /** `text` with every value masked so far replaced by ***. */
  masked(text: string): string {
    let shown = text;
    for (const secret of this.masks) if (secret) shown = shown.split(secret).join('***');
    return shown;
  }
}
