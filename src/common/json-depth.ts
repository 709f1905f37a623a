import type { NextFunction, Request, Response } from 'express';
import { COMMON_ERRORS } from './common.errors';

/** Deepest nesting accepted in a JSON body; deeper bodies are refused before any handler sees them. */
export const MAX_JSON_DEPTH = 32;

/** Nesting depth of a parsed JSON value, iteratively (a hostile body cannot overflow the stack here). */
export function jsonDepth(value: unknown, limit = Infinity): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    const d = depth + 1;
    if (d > max) max = d;
    if (max > limit) return max;
    for (const child of Object.values(node)) stack.push([child, d]);
  }
  return max;
}

export function jsonDepthLimit(req: Request, _res: Response, next: NextFunction): void {
  if (req.body && typeof req.body === 'object' && jsonDepth(req.body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    next(COMMON_ERRORS.error('request.too_deep', `JSON bodies may nest at most ${MAX_JSON_DEPTH} levels`));
    return;
  }
  next();
}
