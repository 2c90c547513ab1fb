/**
 * Responses checked against the Docker Engine API 1.41 specification
 * (test/fixtures/engine-api/engine-api-v1.41.yaml, moby's swagger.yaml at v20.10.24)
 * with ajv, as Docker's clients read them: unknown fields are tolerated, a
 * missing required field or a wrong type is not. Go's clients decode null into
 * any map, slice or struct pointer, and dockerd sends null there often (Labels,
 * Links): null is accepted for objects and arrays, and for scalars the spec
 * marks x-nullable (HostConfig.PidsLimit, null when unset), never others. Enums
 * are not checked: dockerd answers values its spec does not list.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv from 'ajv';
import yaml from 'js-yaml';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const specPath = join(repoRoot, 'test', 'fixtures', 'engine-api', 'engine-api-v1.41.yaml');

type Schema = Record<string, unknown>;
interface Spec {
  definitions: Record<string, Schema>;
  paths: Record<string, Record<string, { responses?: Record<string, { schema?: Schema }> }>>;
}

/** Swagger 2.0 → what ajv checks: null allowed for objects and arrays, swagger's own keywords dropped. */
function adapt(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(adapt);
  if (node === null || typeof node !== 'object') return node;
  const adapted: Schema = {};
  for (const [key, value] of Object.entries(node as Schema)) {
    // enum is left out too: dockerd itself answers values the 1.41 spec does not list (RestartPolicy "no", sent by the docker CLI).
    if (key.startsWith('x-') || key === 'example' || key === 'discriminator' || key === 'readOnly' || key === 'enum') continue;
    adapted[key] =
      key === 'properties' || key === 'definitions'
        ? Object.fromEntries(Object.entries(value as Schema).map(([name, schema]) => [name, adapt(schema)]))
        : adapt(value);
  }
  const nullable = (node as Schema)['x-nullable'] === true && typeof adapted['type'] === 'string';
  if (adapted['type'] === 'object' || adapted['type'] === 'array' || nullable) adapted['type'] = [adapted['type'], 'null'];
  return adapted;
}

let loaded: { spec: Spec; ajv: Ajv.Ajv; definitions: Record<string, unknown> } | undefined;

function load() {
  if (loaded !== undefined) return loaded;
  const spec = yaml.load(readFileSync(specPath, 'utf8')) as Spec;
  const definitions = adapt(spec.definitions) as Record<string, unknown>;
  loaded = { spec, ajv: new Ajv({ allErrors: true, unknownFormats: 'ignore', schemaId: 'auto', logger: false }), definitions };
  return loaded;
}

/** The response schema the specification gives for this route and status. */
function responseSchema(method: string, pathTemplate: string, status: number): Schema {
  const { spec } = load();
  const operation = spec.paths[pathTemplate]?.[method.toLowerCase()];
  const schema = operation?.responses?.[String(status)]?.schema;
  assert.ok(schema !== undefined, `the specification has no ${status} schema for ${method} ${pathTemplate}`);
  return schema;
}

/**
 * Asserts that `body` (parsed JSON) is what the specification allows for
 * `method pathTemplate` answering `status` ("/networks/{id}", 200).
 */
export function assertMatchesSpec(method: string, pathTemplate: string, status: number, body: unknown): void {
  const { ajv, definitions } = load();
  const schema = { definitions, ...(adapt(responseSchema(method, pathTemplate, status)) as Schema) };
  const valid = ajv.validate(schema, body);
  assert.ok(
    valid,
    `${method} ${pathTemplate} ${status} does not match the Engine API 1.41 specification: ${ajv.errorsText(ajv.errors, { separator: '\n' })}\n${JSON.stringify(body).slice(0, 2000)}`,
  );
}

/** Asserts the response against the specification and returns its parsed body. */
export function specChecked(method: string, pathTemplate: string, response: { status: number; body: string }): unknown {
  const body: unknown = JSON.parse(response.body);
  assertMatchesSpec(method, pathTemplate, response.status, body);
  return body;
}
