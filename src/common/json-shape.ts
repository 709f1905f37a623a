import type { AppError } from './app-error';
import { COMMON_ERRORS } from './common.errors';
import { unstorable } from './storable-text';

/** Deepest nesting accepted in a JSON body; deeper bodies are refused before any handler sees them. */
export const MAX_JSON_DEPTH = 32;

/**
 * Keys and array elements (together, "members") a body may hold unless its route says otherwise
 * (@JsonBodyLimits): far more than any route's fields, and far fewer than a 256 kB body can carry
 * (about 120,000). Validation and its messages cost time per member; a body past the limit is refused
 * before any of that work.
 */
export const MAX_JSON_MEMBERS = 1000;

/**
 * Keys that name JavaScript object machinery. JSON.parse keeps them as data, but copying them into an
 * object (class-transformer, a spread, a merge) sets a prototype or is skipped: the value would be
 * silently lost, so they are refused instead.
 */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export interface JsonShapeLimits {
  maxDepth: number;
  maxMembers: number;
}

/** Where a node sits, built only when a problem must name it. */
interface Place {
  parent: Place | null;
  key: string;
  inArray: boolean;
}

function pathOf(place: Place | null): string {
  const parts: string[] = [];
  for (let p = place; p; p = p.parent) parts.push(p.inArray ? `[${p.key}]` : p.parent ? `.${p.key}` : p.key);
  return parts.reverse().join('');
}

/**
 * The first problem of a parsed JSON body, in one iterative walk that stops at the first one (so its
 * cost is bounded by the limits, not by the body): nesting deeper than maxDepth, more than maxMembers
 * keys and elements in all, a reserved key, or a key or string PostgreSQL cannot store. Null when fine.
 */
export function jsonShapeProblem(value: unknown, limits: JsonShapeLimits): AppError | null {
  let members = 0;
  const stack: [unknown, number, Place | null][] = [[value, 0, null]];
  while (stack.length) {
    const [node, depth, place] = stack.pop()!;
    if (typeof node === 'string') {
      if (unstorable(node)) return invalidText(pathOf(place));
      continue;
    }
    if (node === null || typeof node !== 'object') continue;
    if (depth + 1 > limits.maxDepth)
      return COMMON_ERRORS.error('request.too_deep', `JSON bodies may nest at most ${limits.maxDepth} levels`);
    const inArray = Array.isArray(node);
    for (const key in node) {
      if (++members > limits.maxMembers) {
        return COMMON_ERRORS.error(
          'request.too_many_members',
          `This request's JSON body may hold at most ${limits.maxMembers} keys and array elements in all`,
          { max_members: limits.maxMembers },
        );
      }
      if (!inArray) {
        if (RESERVED_KEYS.has(key))
          return COMMON_ERRORS.error('request.reserved_key', `${JSON.stringify(key)} is reserved and cannot be a JSON key`);
        if (unstorable(key)) return invalidText(place ? `a key of ${pathOf(place)}` : 'a key');
      }
      stack.push([(node as Record<string, unknown>)[key], depth + 1, { parent: place, key, inArray }]);
    }
  }
  return null;
}

function invalidText(at: string): AppError {
  return COMMON_ERRORS.error('request.invalid_text', `Text must be valid Unicode without NUL characters (at ${JSON.stringify(at)})`, {
    field: at,
  });
}
