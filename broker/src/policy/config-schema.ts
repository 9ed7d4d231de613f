/**
 * broker/config.schema.json, generated from the settings declared in config-settings.ts (`npm run
 * schema` writes it; broker/test/unit/config-schema.test.ts fails when the committed file differs).
 * The plain settings come from the tables; what the parser checks as code is written here once as
 * schema: which sections are required, the two stores not both, the metrics listener's two shapes, a
 * rule's match (ids and patterns) with the checks that keep a rule from failing open, and the ceilings a
 * rule needs unless defaults give them. Not imported by the broker (the bundle does not carry it).
 */
import { MAX_LIMIT } from '../../../core/key-request.js';
import type { Setting, Settings } from './config-settings.js';
import * as declared from './config-settings.js';
import { ID_CLAIMS, MATCHABLE_CLAIMS } from './glob.js';

type Schema = Record<string, unknown>;
/** The tables the schema is made from (config-settings.ts's, unless a test hands it changed ones). */
export type ConfigTables = Record<
  'LISTEN' | 'OIDC' | 'VENICE' | 'LIMITS' | 'STORE' | 'METRICS' | 'GITHUB_WEBHOOK' | 'POOL' | 'RULE' | 'CEILINGS' | 'RATE_LIMITS',
  Settings
> & { REQUIRED_CEILINGS: Record<string, string> };

const DURATION = '^(?!(0+[dhms])+$)(?=\\d)(\\d+d)?(\\d+h)?(\\d+m)?(\\d+s)?$';
const URL = '^(https://[^\\s/]+(/\\S*)?|http://(localhost|127\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}|\\[::1\\])(:\\d+)?(/\\S*)?)$';
const PATTERN = '^[^\\s\\[\\]{}()!+\\\\]{1,200}$';
const PATTERN_DOC = 'a pattern: * (any text but /), ** (any text), ? (one character)';

/** The whole schema, from the tables given (the real ones unless a test changes one). */
export function configSchema(tables: ConfigTables = declared): Schema {
  const sections = {
    listen: object(tables.LISTEN),
    oidc: object(tables.OIDC, { required: ['audience'] }),
    venice: object(tables.VENICE),
    limits: object(tables.LIMITS),
    store: object(tables.STORE, {
      description:
        "absent: state in this process (one instance); redis-url-env: shared by every replica through Redis 7 or Valkey; state-dir: this process's mint journal on disk. Not both.",
      not: { required: ['redis-url-env', 'state-dir'] },
    }),
    metrics: object(tables.METRICS, {
      description:
        'where /metrics is served: absent or listener internal, a listener of its own (127.0.0.1:9090 unless host and port say otherwise) with copies of /readyz and /healthz; listener api, the API listener (host and port then have no meaning)',
      ...when(
        { properties: { listener: { pattern: anyCase(['api']) } }, required: ['listener'] },
        { not: { anyOf: [{ required: ['host'] }, { required: ['port'] }] } },
      ),
    }),
    'github-webhook': object(tables.GITHUB_WEBHOOK),
    pool: object(tables.POOL, {
      description: 'the warm pool: inert keys each replica keeps, re-shaped at a mint (docs/broker.md, "The warm pool")',
    }),
    defaults: object({}, { properties: { ceilings: object(tables.CEILINGS), 'rate-limits': object(tables.RATE_LIMITS) } }),
    rules: { type: 'array', minItems: 1, items: ruleSchema(tables) },
  };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://github.com/venice-ephemeral-key/venice-ephemeral-key/blob/main/broker/config.schema.json',
    title: 'venice-key-broker configuration (broker.yaml)',
    description:
      "What the broker's own parser accepts, for editors and for a config repository's CI; generated from broker/src/policy/config-settings.ts (npm run schema). One rule the parser checks is beyond a schema: rule names must be unique. The broker's --check is the final word.",
    type: 'object',
    additionalProperties: false,
    required: ['oidc', 'rules'],
    properties: sections,
    allOf: Object.keys(tables.REQUIRED_CEILINGS).map(requiredCeiling),
  };
}

function ruleSchema(tables: ConfigTables): Schema {
  return object(
    {},
    {
      required: ['name', 'match'],
      properties: {
        ...properties(tables.RULE),
        match: matchSchema(),
        ceilings: object(tables.CEILINGS),
        'rate-limits': object(tables.RATE_LIMITS),
      },
    },
  );
}

/** A rule's match: ids as numbers or digits, patterns of *, ** and ?; the fail-open checks as allOf. */
function matchSchema(): Schema {
  const id = {
    anyOf: [
      { type: 'integer', minimum: 1, maximum: 10 ** 16 },
      { type: 'string', pattern: '^[1-9]\\d{0,15}$' },
    ],
  };
  const claims: Schema = {};
  for (const claim of MATCHABLE_CLAIMS) {
    if (ID_CLAIMS.has(claim)) claims[claim] = id;
    else if (claim === 'repository')
      claims[claim] = { type: 'string', pattern: '^(?=\\S{1,200}$)[^\\s\\[\\]{}()!+\\\\/]+/[^\\s\\[\\]{}()!+\\\\/]+$' };
    else claims[claim] = { type: 'string', pattern: PATTERN, description: PATTERN_DOC };
  }
  const exact = (claim: string, pattern = '^[^*?]+$') => ({ required: [claim], properties: { [claim]: { type: 'string', pattern } } });
  return {
    type: 'object',
    additionalProperties: false,
    minProperties: 1,
    properties: claims,
    allOf: [
      {
        description: 'every rule pins an owner exactly: anyone can get a token',
        anyOf: [
          { required: ['repository_owner_id'] },
          { required: ['repository_id'] },
          exact('repository_owner'),
          exact('repository', '^[^*?/]+/'),
        ],
      },
      {
        description:
          'ref needs an exact event_name: pull_request_target, issue_comment, workflow_run and schedule carry the default branch',
        ...when({ required: ['ref'] }, exact('event_name')),
      },
      {
        description: 'environment needs one exact repository: environments are protected per repository',
        ...when({ required: ['environment'] }, { anyOf: [{ required: ['repository_id'] }, exact('repository')] }),
      },
    ],
  };
}

function requiredCeiling(key: string): Schema {
  const has = { required: ['ceilings'], properties: { ceilings: { required: [key] } } };
  return {
    description: `ceilings.${key} is required in every rule unless defaults.ceilings gives it`,
    ...when({ not: { required: ['defaults'], properties: { defaults: has } } }, { properties: { rules: { items: has } } }),
  };
}

function object(table: Settings, extra: Schema = {}): Schema {
  const { properties: more, ...rest } = extra as { properties?: Schema };
  // A former name is still read (deprecated), but never beside the name that replaced it.
  const renamed = Object.entries(table).flatMap(([name, { formerly }]) => (formerly ? [[formerly, { not: { required: [name] } }]] : []));
  const dependentSchemas = renamed.length > 0 ? { dependentSchemas: Object.fromEntries(renamed) } : {};
  return { type: 'object', additionalProperties: false, ...rest, properties: { ...properties(table), ...more }, ...dependentSchemas };
}

function properties(table: Settings): Schema {
  return Object.fromEntries(
    Object.entries(table).flatMap(([name, declared]) => {
      const schema: [string, Schema] = [name, setting(declared)];
      if (!declared.formerly) return [schema];
      const { default: _, ...former } = setting(declared);
      return [schema, [declared.formerly, { ...former, deprecated: true, description: `the former name of ${name}; rename it` }]];
    }),
  );
}

/** One setting's schema: its kind, bounds, default as written, and what it is for. */
function setting(declared: Setting): Schema {
  const described = (schema: Schema, ...notes: (string | undefined)[]): Schema => {
    const description = [declared.doc, ...notes].filter(Boolean).join('; ');
    return description ? { ...schema, description } : schema;
  };
  switch (declared.kind) {
    case 'string':
      return described({ type: 'string', pattern: declared.pattern.source, ...defaultOf(declared.default) });
    case 'url':
      return described({ type: 'string', pattern: URL }, 'https, or http on loopback only');
    case 'integer':
      return described({ type: 'integer', minimum: declared.min, maximum: declared.max, default: declared.default });
    case 'boolean':
      return described({ type: 'boolean', default: declared.default });
    case 'choice':
      return described({ type: 'string', pattern: anyCase(declared.values), ...defaultOf(declared.default) });
    case 'list':
      return described({
        type: 'array',
        minItems: 1,
        items: { type: 'string', pattern: anyCase(declared.values) },
        ...defaultOf(declared.default),
      });
    case 'limit':
      return described({ anyOf: [{ type: 'number', minimum: 0, maximum: MAX_LIMIT }, { const: 'unlimited' }] });
    case 'cidrs':
      return described({ type: 'array', minItems: 1, items: { type: 'string', pattern: '^[0-9A-Fa-f.:]+(/\\d{1,3})?$' } });
    case 'duration':
      return durationSchema(declared, described);
  }
}

function durationSchema(
  declared: Extract<Setting, { kind: 'duration' }>,
  described: (schema: Schema, ...notes: string[]) => Schema,
): Schema {
  const { min, max } = declared;
  const bounds = min ? `from ${min} to ${max} (the broker refuses others)` : max ? `at most ${max} (the broker refuses more)` : '';
  const example = declared.example ?? declared.default;
  const units = `whole units d, h, m, s in that order${bounds ? `, ${bounds}` : ''}, e.g. "${example}"`;
  const schema = described({ type: 'string', pattern: DURATION, ...defaultOf(declared.default) }, units);
  return declared.zero ? { anyOf: [schema, { enum: ['0', '0s'] }] } : schema;
}

/** JSON Schema's if/then, built from entries: an object literal with a `then` reads as a promise to the linter (and to await). */
function when(condition: Schema, consequence: Schema): Schema {
  return Object.fromEntries([
    ['if', condition],
    ['then', consequence],
  ]);
}

function defaultOf(value: string | readonly string[] | undefined): Schema {
  return value === undefined ? {} : { default: value };
}

/** A pattern matching any of the words in any case, as the parser does. */
function anyCase(words: readonly string[]): string {
  const letters = (word: string) => [...word].map((c) => (/[a-z]/i.test(c) ? `[${c.toUpperCase()}${c.toLowerCase()}]` : c)).join('');
  return `^(${words.map(letters).join('|')})$`;
}
