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
