// The broker's HTTP API as documented (broker/openapi.yaml, OpenAPI 3.1), held against the answers the
// suite sees: `call()` checks every answer of a documented route against the document, so an answer
// that drifts from it (a field added, removed or retyped, a status not documented) fails the test that
// saw it. Formats (date-time, uuid) are documentation only; everything else is checked.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { REPO } from '../../../fakes/runner.ts';

type Doc = { paths: Record<string, Record<string, { responses: Record<string, { $ref?: string }> }>> };
export const BROKER_OPENAPI = parse(readFileSync(join(REPO, 'broker', 'openapi.yaml'), 'utf8')) as Doc;

const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
ajv.addSchema(BROKER_OPENAPI, 'openapi');

const pointer = (...parts: string[]): string => parts.map((part) => part.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');

/** The documented path for a request path (`/v1/keys/0d8f…` → `/v1/keys/{id}`), if any. */
function documentedPath(doc: Doc, path: string): string | undefined {
  const bare = path.split('?')[0] as string;
  // A literal path first (/v1/keys/unwrap), then a template (/v1/keys/{id}).
  if (bare in doc.paths) return bare;
  return Object.keys(doc.paths).find((template) => new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(bare));
}

/** Why an answer does not match the document (empty: it does); routes the document lacks are not checked. */
export function undocumented(method: string, path: string, status: number, json: unknown, doc: Doc = BROKER_OPENAPI): string[] {
  const template = documentedPath(doc, path);
  if (!template) return [];
  const operation = doc.paths[template]?.[method.toLowerCase()];
  if (!operation) return [`${method} ${template} is not documented`];
  const response = operation.responses[String(status)];
  if (!response) return [`${method} ${template} answered ${status}, a status the document does not list`];
  const where = response.$ref
    ? `openapi#/${pointer(...response.$ref.slice(2).split('/'))}/content/${pointer('application/json')}/schema`
    : `openapi#/${pointer('paths', template, method.toLowerCase(), 'responses', String(status), 'content', 'application/json', 'schema')}`;
  const validate = doc === BROKER_OPENAPI ? compiled(where) : compileAgainst(doc, where);
  if (validate(json)) return [];
  return (validate.errors ?? []).map(
    (error: ErrorObject) => `${method} ${template} ${status}: ${error.instancePath || '(body)'} ${error.message}`,
  );
}

const validators = new Map<string, ReturnType<typeof ajv.compile>>();
function compiled(where: string): ReturnType<typeof ajv.compile> {
  let validate = validators.get(where);
  if (!validate) {
    validate = ajv.compile({ $ref: where });
    validators.set(where, validate);
  }
  return validate;
}

/** For the positive control: a copy of the document, altered, checked the same way. */
function compileAgainst(doc: Doc, where: string) {
  const other = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  other.addSchema(doc, 'openapi');
  return other.compile({ $ref: where });
}
