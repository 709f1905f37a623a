import { EVENT_ACTIONS } from '../events/events.types';

/** Every event action a webhook may name. */
export const KNOWN_EVENT_TYPES: readonly string[] = Object.keys(EVENT_ACTIONS).sort();

/** Areas (`vm`, `system`, ...) that a prefix pattern (`vm.*`) may name. */
const KNOWN_AREAS = new Set(KNOWN_EVENT_TYPES.map((t) => t.slice(0, t.indexOf('.'))));

export type PatternProblem = { pattern: string; reason: 'unknown_event_type' | 'invalid_pattern' };

/**
 * Checks a webhook's `events` list: each entry an event action (`vm.create`), an area prefix
 * (`vm.*`) or `*`. Returns the entries that are not (empty: all fine).
 */
export function checkEventPatterns(patterns: readonly string[]): PatternProblem[] {
  const problems: PatternProblem[] = [];
  for (const pattern of patterns) {
    if (pattern === '*') continue;
    const prefix = /^([a-z][a-z0-9_]*)\.\*$/.exec(pattern);
    if (prefix) {
      if (!KNOWN_AREAS.has(prefix[1] ?? '')) problems.push({ pattern, reason: 'unknown_event_type' });
      continue;
    }
    if (!/^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$/.test(pattern)) problems.push({ pattern, reason: 'invalid_pattern' });
    else if (!(pattern in EVENT_ACTIONS)) problems.push({ pattern, reason: 'unknown_event_type' });
  }
  return problems;
}

/** Whether an event action matches any pattern: the same rule as the outbox trigger's (migration Webhooks1796000000000). */
export function matchesEventPatterns(patterns: readonly string[], action: string): boolean {
  return patterns.some((p) => p === '*' || p === action || (p.endsWith('.*') && action.startsWith(p.slice(0, -1))));
}
