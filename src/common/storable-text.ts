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

/** The 400 for a query string or path holding text PostgreSQL cannot store; null when all are fine. (Bodies: jsonShapeProblem.) */
export function storableTextProblem(query: unknown, path: string): AppError | null {
  const at = unstorableTextAt(query, '') ?? (unstorable(decodedPath(path)) ? 'path' : null);
  if (at !== null)
    return COMMON_ERRORS.error('request.invalid_text', `Text must be valid Unicode without NUL characters (at ${JSON.stringify(at)})`, {
      field: at,
    });
  return null;
}
