// Runs a README workflow recipe the way GitHub would run it, as far as this action is concerned: jobs in
// `needs` order, each matrix leg as a job, every `uses: venice-ephemeral-key/...` step through the runner
// harness (the committed dist/, main then, at the end of the job, post in reverse order), with its `with:`
// evaluated from secrets, `vars`, `needs.*.outputs`, `steps.*.outputs`, `inputs` and `matrix`. Other steps (checkout,
// shell) are skipped: they do not touch keys. An expression this runner does not know fails the test.
import { parse } from 'yaml';
import { runStep, type StepOptions, type StepResult } from '../../fakes/runner.ts';

interface Step {
  id?: string;
  uses?: string;
  with?: Record<string, string | boolean | number>;
}
interface Job {
  needs?: string | string[];
  outputs?: Record<string, string>;
  strategy?: { matrix: Record<string, string[]> };
  steps: Step[];
}
export interface Workflow {
  name: string;
  on: unknown;
  jobs: Record<string, Job>;
}

export interface RecipeRun {
  /** Every step the action ran, by job (matrix legs as `job[value]`), main and post. */
  steps: { job: string; main: StepResult; post: StepResult }[];
  outputs: Record<string, Record<string, string>>;
}

export function parseRecipe(text: string): Workflow {
  return parse(text) as Workflow;
}

export async function runRecipe(
  workflow: Workflow,
  given: {
    adminKey: string;
    apiUrl: string;
    env?: Record<string, string>;
    event: StepOptions['event'];
    inputs?: Record<string, string>;
    /** Configuration variables (`vars.*`), e.g. the broker's URL. */
    vars?: Record<string, string>;
  },
): Promise<RecipeRun> {
  const run: RecipeRun = { steps: [], outputs: {} };
  const done = new Set<string>();
  const names = Object.keys(workflow.jobs);
  while (done.size < names.length) {
    const ready = names.filter((name) => !done.has(name) && needsOf(workflow.jobs[name]!).every((need) => done.has(need)));
    if (ready.length === 0) throw new Error(`recipe ${workflow.name}: a cycle in needs`);
    for (const name of ready) {
      const job = workflow.jobs[name]!;
      const matrix = job.strategy?.matrix ?? {};
      const [axis] = Object.keys(matrix);
      const legs = axis ? (matrix[axis] ?? []).map((value) => ({ [axis]: String(value) })) : [{}];
      await Promise.all(
        legs.map(async (leg) => {
          const label = axis ? `${name}[${leg[axis]}]` : name;
          const stepOutputs: Record<string, Record<string, string>> = {};
          const evaluate = (text: string): string =>
            text.replace(/\$\{\{\s*([^}]+?)\s*\}\}/g, (_, expression: string) => {
              const [head, a = '', b = '', c = ''] = expression.split('.');
              if (expression === 'secrets.VENICE_ADMIN_KEY') return given.adminKey;
              if (head === 'needs' && b === 'outputs') return run.outputs[a]?.[c] ?? '';
              if (head === 'steps' && b === 'outputs') return stepOutputs[a]?.[c] ?? '';
              if (head === 'inputs') return given.inputs?.[a] ?? '';
              if (head === 'vars') return given.vars?.[a] ?? '';
              if (head === 'matrix') return leg[a] ?? '';
              throw new Error(`recipe ${workflow.name}: unknown expression ${expression}`);
            });
          const posts: { inputs: Record<string, string>; state: Record<string, string>; main: StepResult }[] = [];
          for (const step of job.steps) {
            if (!step.uses?.startsWith('venice-ephemeral-key/')) continue;
            const inputs = Object.fromEntries(Object.entries(step.with ?? {}).map(([key, value]) => [key, evaluate(String(value))]));
            inputs['api-url'] = given.apiUrl;
            const env = { ...given.env, GITHUB_JOB: name };
            const main = await runStep('main', { inputs, env, event: given.event });
            if (step.id) stepOutputs[step.id] = main.outputs;
            posts.unshift({ inputs, state: main.state, main });
          }
          for (const post of posts) {
            const result = await runStep('post', {
              inputs: post.inputs,
              env: { ...given.env, GITHUB_JOB: name },
              event: given.event,
              state: post.state,
            });
            run.steps.push({ job: label, main: post.main, post: result });
          }
          if (job.outputs)
            run.outputs[name] = Object.fromEntries(Object.entries(job.outputs).map(([key, value]) => [key, evaluate(value)]));
        }),
      );
      done.add(name);
    }
  }
  return run;
}

function needsOf(job: Job): string[] {
  return job.needs === undefined ? [] : Array.isArray(job.needs) ? job.needs : [job.needs];
}
