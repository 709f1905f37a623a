import type { AppError } from './app-error';
import { COMMON_ERRORS } from './common.errors';

/**
 * Text PostgreSQL cannot store: NUL (text and jsonb refuse it) or a lone UTF-16 surrogate (jsonb
 * refuses its escape; text would silently turn it into U+FFFD). Refused at the edge for every route,
 * so no handler meets it in a body or query string (keys included).
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function unstorable(text: string): boolean {
  return text.includes('\u0000') || LONE_SURROGATE.test(text);
}

/** The path (`a.b[2]`) of the first string or key in `value` that is not storable; null when all are. */
export function unstorableTextAt(value: unknown, root: string): string | null {
  const stack: [unknown, string][] = [[value, root]];
  while (stack.length) {
    const [node, path] = stack.pop()!;
    if (typeof node === 'string') {
      if (unstorable(node)) return path;
      continue;
    }
    if (node === null || typeof node !== 'object') continue;
    for (const [key, child] of Object.entries(node)) {
      const at = Array.isArray(node) ? `${path}[${key}]` : path ? `${path}.${key}` : key;
      if (unstorable(key)) return path ? `a key of ${path}` : 'a key';
      stack.push([child, at]);
    }
  }
  return null;
}

/**
 * Keys that name JavaScript object machinery. JSON.parse keeps them as data, but copying them into an
 * object (class-transformer, a spread, a merge) sets a prototype or is skipped: the value would be
 * silently lost, so they are refused instead.
 */
const RESERVED_KEYS = ['__proto__', 'constructor', 'prototype'];

function reservedKeyIn(value: unknown): string | null {
  const stack = [value];
  while (stack.length) {
    const node = stack.pop();
    if (node === null || typeof node !== 'object') continue;
    const key = RESERVED_KEYS.find((k) => Object.prototype.hasOwnProperty.call(node, k));
    if (key) return key;
    stack.push(...Object.values(node));
  }
  return null;
}

/** The path as route parameters will see it (percent-decoded); undecodable bytes are the router's 400 to give. */
function decodedPath(path: string): string {
  // Without an escape there is nothing to decode (most requests).
  if (!path.includes('%')) return path;
  try {
    return decodeURIComponent(path);
  } catch {
    return '';
  }
}

/** The 400 for a body, query or path holding a reserved key or text PostgreSQL cannot store; null when all are fine. */
export function storableTextProblem(body: unknown, query: unknown, path: string): AppError | null {
  const reserved = reservedKeyIn(body);
  if (reserved) return COMMON_ERRORS.error('request.reserved_key', `${JSON.stringify(reserved)} is reserved and cannot be a JSON key`);
  const at = unstorableTextAt(body, '') ?? unstorableTextAt(query, '') ?? (unstorable(decodedPath(path)) ? 'path' : null);
  if (at !== null) return COMMON_ERRORS.error('request.invalid_text', `Text must be valid Unicode without NUL characters (at ${JSON.stringify(at)})`, { field: at });
  return null;
}
