// Venice's OpenAPI spec, read at test time (never retyped), turned into validators for the
// /api_keys bodies. Where it comes from, first found wins:
//   1. $VENICE_SWAGGER_PATH
//   2. ../shared/venice/swagger.yaml beside this repository (the project's workspace)
//   3. .cache/venice-swagger.yaml (git-ignored), fetched once from Venice's published copy.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const PUBLISHED_SPEC_URL = 'https://docs.venice.ai/swagger.yaml';
const CACHE = join(REPO, '.cache', 'venice-swagger.yaml');

export async function locateSpec(): Promise<string> {
  const candidates = [process.env.VENICE_SWAGGER_PATH, resolve(REPO, '../shared/venice/swagger.yaml'), CACHE];
  for (const path of candidates) if (path && existsSync(path)) return path;
  process.stderr.write(`Venice spec not found locally; fetching ${PUBLISHED_SPEC_URL} into ${CACHE}\n`);
  const response = await fetch(PUBLISHED_SPEC_URL, { signal: AbortSignal.timeout(30_000) });
  if (!response.ok) throw new Error(`could not fetch ${PUBLISHED_SPEC_URL}: HTTP ${response.status}`);
  mkdirSync(dirname(CACHE), { recursive: true });
  writeFileSync(CACHE, await response.text());
  return CACHE;
}

type Schema = Record<string, unknown>;

export interface VeniceSchemas {
  createRequest: ValidateFunction;
  createResponse: ValidateFunction;
  listResponse: ValidateFunction;
  deleteResponse: ValidateFunction;
  rateLimitsResponse: ValidateFunction;
  /** Ajv's errors for the last failed validation, as Venice-like `details`. */
  describe(validate: ValidateFunction): string;
}

let cached: Promise<VeniceSchemas> | undefined;

export function loadVeniceSchemas(): Promise<VeniceSchemas> {
  cached ??= (async () => {
    const spec = parse(readFileSync(await locateSpec(), 'utf8')) as Schema;
    const ajv = new Ajv({ strict: false, allErrors: true });
    const components = ((spec.components as Schema).schemas ?? {}) as Schema;
    const op = (path: string, method: string): Schema => ((spec.paths as Schema)[path] as Schema)[method] as Schema;
    const json = (content: unknown): Schema => toJsonSchema(((content as Schema)['application/json'] as Schema).schema, components);
    const response = (path: string, method: string): ValidateFunction =>
      ajv.compile(json(((op(path, method).responses as Schema)['200'] as Schema).content));
    return {
      createRequest: ajv.compile(json((op('/api_keys', 'post').requestBody as Schema).content)),
      createResponse: response('/api_keys', 'post'),
      listResponse: response('/api_keys', 'get'),
      deleteResponse: response('/api_keys', 'delete'),
      rateLimitsResponse: response('/api_keys/rate_limits', 'get'),
      describe: (validate) => ajv.errorsText(validate.errors),
    };
  })();
  return cached;
}

/**
 * OpenAPI 3.0 schema → JSON Schema for Ajv: `nullable: true` means null is allowed too (a bare
 * `{nullable: true}` is Venice's way of writing "null"), and `$ref`s to components are inlined.
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
    if (key === 'nullable' || key === 'example' || key === 'description') continue;
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
