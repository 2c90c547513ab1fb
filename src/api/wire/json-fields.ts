/** Typed reads of fields from a decoded JSON body; a wrong type is a 400 naming the field. */
import { invalid } from '../../errors.js';

type Body = Record<string, unknown>;

function typeError(field: string, expected: string, value: unknown): Error {
  return invalid(`json: cannot unmarshal ${Array.isArray(value) ? 'array' : typeof value} into field ${field} of type ${expected}`);
}

export function optionalString(body: Body, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw typeError(field, 'string', value);
  return value;
}

export function optionalBool(body: Body, field: string): boolean | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw typeError(field, 'bool', value);
  return value;
}

export function optionalObject(body: Body, field: string): Body | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw typeError(field, 'object', value);
  return value as Body;
}

export function optionalArray(body: Body, field: string): unknown[] | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw typeError(field, 'array', value);
  return value;
}

export function optionalStringArray(body: Body, field: string): string[] | undefined {
  const values = optionalArray(body, field);
  if (values === undefined) return undefined;
  return values.map((value) => {
    if (typeof value !== 'string') throw typeError(field, '[]string', value);
    return value;
  });
}

export function optionalStringMap(body: Body, field: string): Record<string, string> | undefined {
  const value = optionalObject(body, field);
  if (value === undefined) return undefined;
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry !== 'string') throw typeError(`${field}.${key}`, 'string', entry);
  }
  return value as Record<string, string>;
}
