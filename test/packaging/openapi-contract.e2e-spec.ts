import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import openapiTS, { astToString } from 'openapi-typescript';
import { errorCatalog } from '../../src/common/error-catalog';
import { generateOpenApi } from '../../src/openapi';

const run = promisify(execFile);

describe('API contract', () => {
  it('openapi.json is what the code produces (run `npm run openapi` after an API change)', async () => {
    const committed = await readFile('openapi.json', 'utf8');
    const produced = await generateOpenApi();
    expect(JSON.parse(produced)).toEqual(JSON.parse(committed));
  });

  it('passes the Redocly linter (recommended rules) with zero errors and zero warnings', async () => {
    const { stdout, stderr } = await run('node_modules/.bin/redocly', ['lint', 'openapi.json', '--format=summary'], {
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    }).catch((err: { stdout: string; stderr: string }) => {
      throw new Error(`redocly lint failed:\n${err.stdout}\n${err.stderr}`);
    });
    expect(`${stdout}${stderr}`).not.toMatch(/\berror\b/i);
    expect(`${stdout}${stderr}`).not.toMatch(/You have \d+ warnings?/i);
  });

  it('passes Spectral (the spectral:oas ruleset, .spectral.yaml) with zero errors and zero warnings', async () => {
    const { stdout } = await run('node_modules/.bin/spectral', ['lint', 'openapi.json', '--fail-severity=warn', '--format=text'], {}).catch(
      (err: unknown) => {
        const { stdout: out = '', stderr = '' } = err as { stdout?: string; stderr?: string };
        throw new Error(`spectral lint failed:\n${out}\n${stderr}`);
      },
    );
    expect(stdout).not.toMatch(/\b(error|warning)\b/);
  });

  it('gives every request body field an example (Swagger UI fills "Try it out" from them: no placeholders) and every tag and operation a description', async () => {
    type Schema = {
      $ref?: string;
      properties?: Record<string, Schema>;
      example?: unknown;
      enum?: unknown[];
      default?: unknown;
      items?: Schema;
    };
    const doc = JSON.parse(await readFile('openapi.json', 'utf8')) as {
      tags?: { name: string; description?: string }[];
      paths: Record<
        string,
        Record<
          string,
          { operationId: string; tags?: string[]; description?: string; requestBody?: { content: Record<string, { schema: Schema }> } }
        >
      >;
      components: { schemas: Record<string, Schema> };
    };
    const resolve = (s: Schema): Schema => (s.$ref ? resolve(doc.components.schemas[s.$ref.split('/').pop()!]!) : s);
    const missing: string[] = [];
    const check = (schema: Schema, at: string) => {
      for (const [name, raw] of Object.entries(resolve(schema).properties ?? {})) {
        const prop = resolve(raw);
        if (prop.properties) check(prop, `${at}.${name}`);
        else if (prop.items && resolve(prop.items).properties) check(prop.items, `${at}.${name}[]`);
        else if (raw.example === undefined && prop.example === undefined && !prop.enum && prop.default === undefined)
          missing.push(`${at}.${name}`);
      }
    };
    const tags = new Set((doc.tags ?? []).filter((t) => t.description).map((t) => t.name));
    for (const item of Object.values(doc.paths)) {
      for (const op of Object.values(item)) {
        const body = op.requestBody?.content['application/json'];
        if (body) check(body.schema, op.operationId);
        if (!op.description) missing.push(`${op.operationId}: description`);
        for (const tag of op.tags ?? []) if (!tags.has(tag)) missing.push(`tag ${tag}: description`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('sdk/schema.d.ts is generated from the committed document (run `npm run sdk`)', async () => {
    const committed = await readFile('sdk/schema.d.ts', 'utf8');
    const ast = await openapiTS(JSON.parse(await readFile('openapi.json', 'utf8')));
    const body = (text: string) => text.replace(/^\/\*\*[\s\S]*?\*\/\s*/, '').trim();
    expect(body(committed)).toBe(body(astToString(ast)));
  });

  it('lists per operation the codes it can answer, each under its own status, every module code on some route', async () => {
    const doc = JSON.parse(await generateOpenApi()) as {
      paths: Record<
        string,
        Record<
          string,
          { responses: Record<string, { content?: Record<string, { schema: { $ref?: string; oneOf?: { $ref: string }[] } }> }> }
        >
      >;
      components: { schemas: Record<string, { properties: { code: { enum: string[] }; status: { enum: number[] } } }> };
    };
    const declared = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        for (const [status, response] of Object.entries(op.responses)) {
          const schema = response.content?.['application/problem+json']?.schema;
          if (!schema) continue;
          for (const ref of schema.oneOf ?? [schema]) {
            const problem = doc.components.schemas[ref.$ref!.split('/').pop()!];
            expect(`${method} ${path} ${status}: ${problem!.properties.code.enum.join()} ${problem!.properties.status.enum.join()}`).toBe(
              `${method} ${path} ${status}: ${problem!.properties.code.enum.join()} ${status}`,
            );
            declared.add(problem!.properties.code.enum[0]!);
          }
        }
      }
    }
    // Answers of the router and the last-resort handler, which belong to no route.
    const routeless = ['route.not_found', 'request.method_not_allowed', 'request.error', 'internal.error'];
    const catalog = [...errorCatalog().keys()].filter((code) => !code.startsWith('spec.') && !code.startsWith('catalogspec.'));
    expect(catalog.filter((code) => !declared.has(code) && !routeless.includes(code))).toEqual([]);
    expect([...declared].filter((code) => !catalog.includes(code))).toEqual([]);
  });

  it('gives every operation a stable verbNoun operationId', async () => {
    const doc = JSON.parse(await readFile('openapi.json', 'utf8')) as { paths: Record<string, Record<string, { operationId: string }>> };
    const ids = Object.values(doc.paths).flatMap((item) => Object.values(item).map((op) => op.operationId));
    expect(ids.length).toBe(new Set(ids).size);
    for (const id of ids)
      expect(id).toMatch(/^(get|list|create|update|delete|perform|check|register|login|logout|change|admin[A-Z]\w*)[A-Z]?\w*$/);
  });
});
