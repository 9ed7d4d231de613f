// The layout, as rules the imports keep (CONTRIBUTING.md's "Layout" says why):
//   core/        what the action and the broker share: imports nothing outside core/
//   src/         the action: imports src/ and core/, never the broker; in rooms: runner/ (the runner's
//                side), github/, backends/ (where keys are made: direct or the broker), modes/ (each
//                written once against backends/key-backend.ts, never a backend itself); steps.ts wires
//   broker/src/  the broker: imports broker/src/ and core/ only, in rooms, each importing only those below:
//                state/ (what replicas share), policy/ (config, rules, tokens), observe/ (audit, metrics,
//                log, version), keys/ (every key's life), http/ (the doors); server.ts and broker.ts,
//                the only files at its top level, wire them
//   fakes/       Venice, GitHub, the OIDC issuer, the runner and the broker as a process, for tests,
//                demo and bench: imports fakes/ and core/
//   scripts/     demo, bench, bundle, checks: anything but tests
//   testkit/     what both programs' tests share (leak scans, seeded keys, waits, gates): imports
//                testkit/, fakes/ and core/; only the tests import it
//   test/, broker/test/: may import anything but each other's support: the broker's tests own theirs
//                (broker/test/support/) and never import test/; nothing else imports them
// and no cycles among the programs' modules. The checker is tried on a made-up tree first (a positive
// control), so a rule that silently matches nothing cannot pass.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { expect, test } from 'vitest';
import { REPO } from '../../fakes/runner.ts';

const MAY_IMPORT: [string, string[]][] = [
  ['core/', ['core/']],
  ['src/runner/', ['src/runner/', 'core/']],
  ['src/github/', ['src/github/', 'src/runner/', 'core/']],
  ['src/backends/', ['src/backends/', 'src/runner/', 'core/']],
  ['src/modes/', ['src/modes/', 'src/backends/key-backend.ts', 'src/runner/', 'src/github/', 'core/']],
  ['src/', ['src/', 'core/']],
  ['broker/src/state/', ['broker/src/state/', 'core/']],
  ['broker/src/policy/', ['broker/src/policy/', 'core/']],
  ['broker/src/observe/', ['broker/src/observe/', 'broker/src/policy/', 'core/']],
  ['broker/src/keys/', ['broker/src/keys/', 'broker/src/observe/', 'broker/src/policy/', 'broker/src/state/', 'core/']],
  ['broker/src/http/', ['broker/src/', 'core/']],
  ['broker/src/', ['broker/src/', 'core/']],
  ['fakes/', ['fakes/', 'core/']],
  ['testkit/', ['testkit/', 'fakes/', 'core/']],
  ['broker/test/', ['broker/test/', 'broker/src/', 'testkit/', 'fakes/', 'core/']],
  ['scripts/', ['scripts/', 'fakes/', 'core/', 'src/', 'broker/src/']],
];
const TESTS = ['test/', 'broker/test/'];

type Graph = Map<string, string[]>;

/** Every relative import of every source file under `roots`, as repository paths (.js read as .ts). */
function importGraph(roots: string[]): Graph {
  const graph: Graph = new Map();
  const walk = (dir: string): void => {
    for (const name of readdirSync(join(REPO, dir))) {
      const path = `${dir}/${name}`;
      if (statSync(join(REPO, path)).isDirectory()) walk(path);
      else if (/\.(ts|mjs)$/.test(name)) {
        const text = readFileSync(join(REPO, path), 'utf8');
        const targets = [...text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)].map((match) =>
          normalize(join(dirname(path), match[1] as string)).replace(/\.js$/, '.ts'),
        );
        graph.set(path, targets);
      }
    }
  };
  for (const root of roots) walk(root);
  return graph;
}

/** Each import that breaks a rule, and each cycle, in words. */
function layoutProblems(graph: Graph): string[] {
  const problems: string[] = [];
  for (const [file, targets] of graph) {
    const rule = MAY_IMPORT.find(([home]) => file.startsWith(home));
    for (const target of targets) {
      const fromTests = TESTS.some((folder) => file.startsWith(folder));
      if (
        (TESTS.some((folder) => target.startsWith(folder)) || target.startsWith('testkit/')) &&
        !fromTests &&
        !file.startsWith('testkit/')
      ) {
        problems.push(`${file} imports ${target}: nothing outside the tests imports them`);
      } else if (rule && !rule[1].some((allowed) => target.startsWith(allowed))) {
        problems.push(`${file} imports ${target}: ${rule[0]} may import only ${rule[1].join(', ')}`);
      }
    }
  }
  // Cycles among the programs' modules (depth-first; a module met again on the current path closes one).
  const programs = [...graph.keys()].filter((file) => ['core/', 'src/', 'broker/src/'].some((home) => file.startsWith(home)));
  const state = new Map<string, 'open' | 'done'>();
  const visit = (file: string, path: string[]): void => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      problems.push(`cycle: ${[...path.slice(path.indexOf(file)), file].join(' → ')}`);
      return;
    }
    state.set(file, 'open');
    for (const target of graph.get(file) ?? []) if (graph.has(target)) visit(target, [...path, file]);
    state.set(file, 'done');
  };
  for (const file of programs) visit(file, []);
  return problems;
}

test('the checker finds a forbidden import and a cycle in a made-up tree (positive control)', () => {
  const madeUp: Graph = new Map([
    ['core/tag.ts', ['src/runner/inputs.ts']],
    ['broker/src/app.ts', ['src/modes/mint.ts', 'core/tag.ts']],
    ['src/modes/mint.ts', ['broker/src/app.ts']],
    ['scripts/demo.ts', ['test/support/bed.ts']],
    ['scripts/bench.ts', ['testkit/wait.ts']],
    ['broker/test/policy.test.ts', ['test/support/in-process.ts', 'broker/test/support/broker-bed.ts', 'testkit/leaks.ts']],
    ['src/a.ts', ['src/b.ts']],
    ['src/b.ts', ['src/a.ts']],
    // The broker's rooms: the shared state imports no other room; observe does not reach the keys.
    ['broker/src/state/redis-state.ts', ['broker/src/keys/leases.ts', 'broker/src/state/shared-state.ts']],
    ['broker/src/observe/audit.ts', ['broker/src/keys/pool.ts', 'broker/src/policy/caller-token.ts']],
    ['broker/src/keys/mint.ts', ['broker/src/http/app.ts', 'broker/src/state/fair-queue.ts']],
    // The action's rooms: a mode never reaches a backend itself, only the interface.
    ['src/modes/sweep.ts', ['src/backends/direct.ts', 'src/backends/key-backend.ts']],
  ]);
  expect(layoutProblems(madeUp)).toEqual([
    'core/tag.ts imports src/runner/inputs.ts: core/ may import only core/',
    'broker/src/app.ts imports src/modes/mint.ts: broker/src/ may import only broker/src/, core/',
    'src/modes/mint.ts imports broker/src/app.ts: src/modes/ may import only src/modes/, src/backends/key-backend.ts, src/runner/, src/github/, core/',
    'scripts/demo.ts imports test/support/bed.ts: nothing outside the tests imports them',
    'scripts/bench.ts imports testkit/wait.ts: nothing outside the tests imports them',
    'broker/test/policy.test.ts imports test/support/in-process.ts: broker/test/ may import only broker/test/, broker/src/, testkit/, fakes/, core/',
    'broker/src/state/redis-state.ts imports broker/src/keys/leases.ts: broker/src/state/ may import only broker/src/state/, core/',
    'broker/src/observe/audit.ts imports broker/src/keys/pool.ts: broker/src/observe/ may import only broker/src/observe/, broker/src/policy/, core/',
    'broker/src/keys/mint.ts imports broker/src/http/app.ts: broker/src/keys/ may import only broker/src/keys/, broker/src/observe/, broker/src/policy/, broker/src/state/, core/',
    'src/modes/sweep.ts imports src/backends/direct.ts: src/modes/ may import only src/modes/, src/backends/key-backend.ts, src/runner/, src/github/, core/',
    'cycle: broker/src/app.ts → src/modes/mint.ts → broker/src/app.ts',
    'cycle: src/a.ts → src/b.ts → src/a.ts',
  ]);
});

test('the repository keeps its layout: core imports neither program, the broker only core, nothing imports the tests, no cycles', () => {
  const graph = importGraph(['core', 'src', 'broker/src', 'fakes', 'scripts', 'testkit', 'test', 'broker/test']);
  expect(graph.size).toBeGreaterThan(100);
  expect([...graph.keys()].filter((file) => file.startsWith('core/')).length).toBeGreaterThan(10);
  expect(layoutProblems(graph)).toEqual([]);
  expect(relative(REPO, join(REPO, 'core'))).toBe('core');
});

test("the broker's top level holds only its wiring; every other file is in a room", () => {
  const top = readdirSync(join(REPO, 'broker/src'), { withFileTypes: true });
  expect(
    top
      .filter((entry) => entry.isFile())
      .map((entry) => entry.name)
      .sort(),
  ).toEqual(['broker.ts', 'server.ts']);
  expect(
    top
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort(),
  ).toEqual(['http', 'keys', 'observe', 'policy', 'state']);
});
