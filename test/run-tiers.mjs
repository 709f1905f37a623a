#!/usr/bin/env node
/**
 * `npm test`: every tier of jest.config.cjs, one Jest run each (`npm run test:<tier>`, which says how
 * many files it runs side by side), in this order (docs/testing.md). A tier that fails does not stop the next; the exit code is 1
 * if any failed. Prints each tier's wall-clock and CPU time (of Jest and everything it started).
 *
 * With arguments (`npm test -- test/e2e/vms.e2e-spec.ts`, `npm test -- -t name`) it is one Jest run
 * over all projects with those arguments, in band, as before the tiers.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const TIERS = ['unit', 'db', 'e2e', 'packaging', 'multiprocess', 'browser'];

/** CPU seconds of this process's reaped children (and theirs), from /proc (Linux); null elsewhere. */
function childrenCpuSeconds() {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the command name: field 16 (cutime) and 17 (cstime) of proc(5) are at 13 and 14 here, in ticks (100/s).
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return null;
  }
}

function run(command, args) {
  return spawnSync(command, args, { stdio: 'inherit' }).status ?? 1;
}

const extra = process.argv.slice(2);
if (extra.length)
  process.exit(run(process.execPath, ['--experimental-vm-modules', 'node_modules/jest/bin/jest.js', '--runInBand', ...extra]));

const results = [];
for (const tier of TIERS) {
  const started = Date.now();
  const cpuBefore = childrenCpuSeconds();
  console.log(`\n=== npm test: npm run test:${tier}\n`);
  const status = run('npm', ['run', '--silent', `test:${tier}`]);
  const cpuAfter = childrenCpuSeconds();
  results.push({
    tier,
    status,
    wall: (Date.now() - started) / 1000,
    cpu: cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore,
  });
}
console.log('\n=== npm test: tiers\n');
for (const r of results) {
  console.log(
    `${r.status === 0 ? 'PASS' : 'FAIL'}  ${r.tier.padEnd(13)} ${r.wall.toFixed(0).padStart(5)} s wall${r.cpu === null ? '' : `  ${r.cpu.toFixed(0).padStart(5)} s CPU`}`,
  );
}
const wall = results.reduce((s, r) => s + r.wall, 0);
const cpu = results.every((r) => r.cpu !== null) ? results.reduce((s, r) => s + r.cpu, 0) : null;
console.log(
  `      ${'total'.padEnd(13)} ${wall.toFixed(0).padStart(5)} s wall${cpu === null ? '' : `  ${cpu.toFixed(0).padStart(5)} s CPU`}`,
);
process.exit(results.some((r) => r.status !== 0) ? 1 : 0);
