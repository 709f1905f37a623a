import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';

export interface AxeViolation {
  id: string;
  impact: 'minor' | 'moderate' | 'serious' | 'critical' | null;
  help: string;
  nodes: { target: string[] }[];
}

/** Violation counts by impact and the rules that fired, as the browser tests record them. */
export interface AxeSummary {
  serious: number;
  critical: number;
  moderate: number;
  minor: number;
  rules: string[];
}

let axeSource: string | undefined;

/**
 * axe-core (WCAG 2.0-2.2 A/AA and best practices) on the page as it is now. Injected by runtime
 * evaluation (the test's, not the page's), which is outside the page's CSP.
 */
export async function runAxe(p: Page): Promise<AxeViolation[]> {
  axeSource ??= readFileSync(join(process.cwd(), 'node_modules/axe-core/axe.min.js'), 'utf8');
  if (!(await p.evaluate(() => 'axe' in globalThis))) await p.evaluate(axeSource);
  return p.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(ctx: unknown, opts: object): Promise<{ violations: AxeViolation[] }> } }).axe;
    const result = await axe.run((globalThis as unknown as { document: unknown }).document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] },
      resultTypes: ['violations'],
    });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target })),
    }));
  });
}

export function summarize(violations: AxeViolation[]): AxeSummary {
  const count = (impact: AxeViolation['impact']) => violations.filter((v) => v.impact === impact).length;
  return {
    critical: count('critical'),
    serious: count('serious'),
    moderate: count('moderate'),
    minor: count('minor'),
    rules: violations.map((v) => `${v.impact}: ${v.id} (${v.nodes.length})`),
  };
}

/** The violations that fail a page: serious and critical. */
export function blocking(violations: AxeViolation[]): AxeViolation[] {
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}
