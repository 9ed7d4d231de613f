// Venice's contract as the tests use it. The /api_keys schemas are extracted from Venice's own OpenAPI
// spec (never retyped) into contract/venice-api-keys.json, committed with its provenance, so `npm test`
// runs offline. `npm run contract` rewrites that file from a spec; `npm run check-contract` (and the
// contract drift test, when a spec is at hand) compares the committed file with a spec and prints a diff.
//
// Where a spec comes from, first found wins: $VENICE_SWAGGER_PATH, then ../shared/venice/swagger.yaml.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CONTRACT_PATH = join(REPO, 'contract', 'venice-api-keys.json');

type Schema = Record<string, unknown>;

/** The operations the action and its test server use, by name. */
const OPERATIONS = {
  createRequest: ['/api_keys', 'post', 'request'],
  createResponse: ['/api_keys', 'post', '200'],
  listResponse: ['/api_keys', 'get', '200'],
  getResponse: ['/api_keys/{id}', 'get', '200'],
  deleteResponse: ['/api_keys', 'delete', '200'],
  rateLimitsResponse: ['/api_keys/rate_limits', 'get', '200'],
  updateRequest: ['/api_keys', 'patch', 'request'],
  updateResponse: ['/api_keys', 'patch', '200'],
} as const;
export type OperationName = keyof typeof OPERATIONS;

export interface Contract {
  provenance: { source: string; specVersion: string; sha256: string; note: string };
  schemas: Record<OperationName, Schema>;
}

/** A spec on this machine, or undefined: nothing here ever goes to the network. */
export function locateSpec(): string | undefined {
  const candidates = [process.env.VENICE_SWAGGER_PATH, resolve(REPO, '../shared/venice/swagger.yaml')];
  return candidates.find((path): path is string => Boolean(path && existsSync(path)));
}

/** The contract from a spec's text: the schemas the action relies on, converted for Ajv, without prose. */
export function extractContract(specText: string, source: string): Contract {
  const spec = parse(specText) as Schema;
  const components = ((spec.components as Schema).schemas ?? {}) as Schema;
  const operation = (path: string, method: string): Schema => ((spec.paths as Schema)[path] as Schema)[method] as Schema;
  const json = (content: unknown): Schema => toJsonSchema(((content as Schema)['application/json'] as Schema).schema, components);
  const schemas = Object.fromEntries(
    Object.entries(OPERATIONS).map(([name, [path, method, part]]) => {
      const op = operation(path, method);
      const content = part === 'request' ? (op.requestBody as Schema).content : ((op.responses as Schema)[part] as Schema).content;
      return [name, json(content)];
    }),
  ) as Record<OperationName, Schema>;
  return {
    provenance: {
      source,
      specVersion: String((spec.info as Schema).version),
      sha256: createHash('sha256').update(specText).digest('hex'),
      note: 'Extracted by `npm run contract` from Venice\u2019s OpenAPI spec (veniceai/api-docs). Do not edit by hand.',
    },
    schemas,
  };
}

export function readContract(): Contract {
  return JSON.parse(readFileSync(CONTRACT_PATH, 'utf8')) as Contract;
}

/** Where two contracts' schemas differ, one line per JSON path, for a person to act on. */
export function contractDrift(committed: Contract, fresh: Contract): string[] {
  const lines: string[] = [];
  const walk = (path: string, a: unknown, b: unknown): void => {
    if (JSON.stringify(a) === JSON.stringify(b)) return;
    if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null && !Array.isArray(a) && !Array.isArray(b)) {
      for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
        walk(`${path}.${key}`, (a as Schema)[key], (b as Schema)[key]);
      }
      return;
    }
    lines.push(`${path}: committed ${JSON.stringify(a) ?? '(absent)'}, spec has ${JSON.stringify(b) ?? '(absent)'}`);
  };
  walk('schemas', committed.schemas, fresh.schemas);
  return lines;
}

export interface VeniceSchemas {
  createRequest: ValidateFunction;
  createResponse: ValidateFunction;
  listResponse: ValidateFunction;
  getResponse: ValidateFunction;
  deleteResponse: ValidateFunction;
  rateLimitsResponse: ValidateFunction;
  updateRequest: ValidateFunction;
  updateResponse: ValidateFunction;
  /** Ajv's errors for the last failed validation, as Venice-like `details`. */
  describe(validate: ValidateFunction): string;
}

let cached: VeniceSchemas | undefined;

/** Validators for the committed contract (offline, always the same). */
export function loadVeniceSchemas(): VeniceSchemas {
  if (cached) return cached;
  const { schemas } = readContract();
  const ajv = new Ajv({ strict: false, allErrors: true });
  const compiled = Object.fromEntries(Object.entries(schemas).map(([name, schema]) => [name, ajv.compile(schema)])) as Record<
    OperationName,
    ValidateFunction
  >;
  cached = { ...compiled, describe: (validate) => ajv.errorsText(validate.errors) };
  return cached;
}

/**
 * OpenAPI 3.0 schema → JSON Schema for Ajv: `nullable: true` means null is allowed too (a bare
 * `{nullable: true}` is Venice's way of writing "null"), `$ref`s to components are inlined, and prose
 * (description, example, title, deprecated) is dropped.
 */
export function toJsonSchema(node: unknown, components: Schema): Schema {
  if (Array.isArray(node)) return node.map((item) => toJsonSchema(item, components)) as unknown as Schema;
  if (typeof node !== 'object' || node === null) return node as Schema;
  const source = node as Schema;
  if (typeof source.$ref === 'string') {
    return toJsonSchema(components[source.$ref.replace('#/components/schemas/', '')], components);
  }
  const out: Schema = {};
  for (const [key, value] of Object.entries(source)) {
    if (['nullable', 'example', 'description', 'title', 'deprecated'].includes(key)) continue;
    out[key] = key === 'properties' ? mapValues(value as Schema, components) : toJsonSchema(value, components);
  }
  if (source.nullable === true) {
    if (out.type === undefined && out.anyOf === undefined && out.enum === undefined) return { type: 'null' };
    return { anyOf: [out, { type: 'null' }] };
  }
  return out;
}

function mapValues(properties: Schema, components: Schema): Schema {
  return Object.fromEntries(Object.entries(properties).map(([name, schema]) => [name, toJsonSchema(schema, components)]));
}
