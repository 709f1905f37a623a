import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import openapiTS, { astToString } from 'openapi-typescript';
import { generateOpenApi } from '../../src/openapi';

const run = promisify(execFile);

describe('API contract', () => {
  it('openapi.json is what the code produces (run `npm run openapi` after an API change)', async () => {
    const committed = await readFile('openapi.json', 'utf8');
    const produced = await generateOpenApi();
    expect(JSON.parse(produced)).toEqual(JSON.parse(committed));
  });

  it('passes the Redocly linter with zero errors', async () => {
    const { stdout, stderr } = await run('node_modules/.bin/redocly', ['lint', 'openapi.json', '--format=summary'], {
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    }).catch((err: { stdout: string; stderr: string }) => {
      throw new Error(`redocly lint failed:\n${err.stdout}\n${err.stderr}`);
    });
    expect(`${stdout}${stderr}`).not.toMatch(/\berror\b/i);
  });

  it('sdk/schema.d.ts is generated from the committed document (run `npm run sdk`)', async () => {
    const committed = await readFile('sdk/schema.d.ts', 'utf8');
    const ast = await openapiTS(JSON.parse(await readFile('openapi.json', 'utf8')));
    const body = (text: string) => text.replace(/^\/\*\*[\s\S]*?\*\/\s*/, '').trim();
    expect(body(committed)).toBe(body(astToString(ast)));
  });

  it('gives every operation a stable verbNoun operationId', async () => {
    const doc = JSON.parse(await readFile('openapi.json', 'utf8')) as { paths: Record<string, Record<string, { operationId: string }>> };
    const ids = Object.values(doc.paths).flatMap((item) => Object.values(item).map((op) => op.operationId));
    expect(ids.length).toBe(new Set(ids).size);
    for (const id of ids) expect(id).toMatch(/^(get|list|create|update|delete|perform|check|register|login|admin[A-Z]\w*)[A-Z]?\w*$/);
  });
});
