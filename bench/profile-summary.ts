/**
 * Summarises a V8 .cpuprofile (from `BENCH_PROFILE=1 npm run bench`, i.e. `node --cpu-prof`):
 * top functions by self time, by inclusive time, and self time per package.
 *   node dist/bench/bench/profile-summary.js bench/results/profiles/<file>.cpuprofile [top]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
}

function where(url: string): string {
  if (!url) return '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return 'node core';
  const m = /\/dist\/(.*)$/.exec(url);
  return m ? m[1]! : url;
}

function main(): void {
  const [file, topArg] = process.argv.slice(2);
  if (!file) throw new Error('usage: profile-summary <file.cpuprofile> [top]');
  const top = Number(topArg ?? 25);
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const totalHits = p.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0);
  const msPerHit = (p.endTime - p.startTime) / 1000 / Math.max(1, p.samples.length);
  const keyOf = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'} ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;

  const self = new Map<string, number>();
  const pkg = new Map<string, number>();
  for (const n of p.nodes) {
    const h = n.hitCount ?? 0;
    if (!h) continue;
    self.set(keyOf(n), (self.get(keyOf(n)) ?? 0) + h);
    const w = ['(idle)', '(program)', '(garbage collector)'].includes(n.callFrame.functionName)
      ? n.callFrame.functionName
      : where(n.callFrame.url);
    pkg.set(w, (pkg.get(w) ?? 0) + h);
  }

  // Inclusive: hits under a function, counted once per stack even when it recurses.
  const inclusive = new Map<string, number>();
  const subtree = new Map<number, number>();
  const total = (id: number): number => {
    const cached = subtree.get(id);
    if (cached !== undefined) return cached;
    const n = byId.get(id)!;
    const t = (n.hitCount ?? 0) + (n.children ?? []).reduce((s, c) => s + total(c), 0);
    subtree.set(id, t);
    return t;
  };
  const walk = (id: number, onStack: Set<string>) => {
    const n = byId.get(id)!;
    const k = keyOf(n);
    const fresh = !onStack.has(k);
    if (fresh) {
      inclusive.set(k, (inclusive.get(k) ?? 0) + total(id));
      onStack.add(k);
    }
    for (const c of n.children ?? []) walk(c, onStack);
    if (fresh) onStack.delete(k);
  };
  walk(p.nodes[0]!.id, new Set());

  const idle = self.get('(idle) (native):0') ?? 0;
  self.delete('(idle) (native):0');
  pkg.delete('(idle)');
  const busy = totalHits - idle;
  const fmt = (h: number) => `${(h * msPerHit).toFixed(0).padStart(7)} ms ${((h / Math.max(1, busy)) * 100).toFixed(1).padStart(5)}%`;
  const print = (title: string, m: Map<string, number>, n: number) => {
    process.stdout.write(`\n${title}\n`);
    for (const [k, h] of [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n)) process.stdout.write(`${fmt(h)}  ${k}\n`);
  };
  process.stdout.write(
    `${file}: ${((p.endTime - p.startTime) / 1e6).toFixed(1)} s profiled, ${((busy * msPerHit) / 1000).toFixed(1)} s busy (percentages of busy time)\n`,
  );
  print('Self time by package', pkg, top);
  print('Self time by function', self, top);
  print('Inclusive time by function', new Map([...inclusive].filter(([k]) => !k.startsWith('(root)') && !k.startsWith('(idle)'))), top);
}

main();
