import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { CONFIGURATION_DOC, readSettingsFromSource, renderConfigurationDoc, SCHEMA_SOURCE, undocumentedSettings } from './env-docs';
import { getMetadataStorage } from 'class-validator';
import { EnvironmentVariables } from './env.validation';

// Jest runs from the repository root.
const source = readFileSync(SCHEMA_SOURCE, 'utf8');

describe('docs/configuration.md, generated from the validation schema', () => {
  it('reads every validated setting from the source, each with a doc comment', () => {
    const validated = new Set(
      getMetadataStorage()
        .getTargetValidationMetadatas(EnvironmentVariables, '', true, false)
        .map((m) => m.propertyName),
    );
    expect(readSettingsFromSource(source).map((s) => s.name)).toEqual(expect.arrayContaining([...validated]));
    expect(readSettingsFromSource(source)).toHaveLength(validated.size);
    expect(undocumentedSettings(source)).toEqual([]);
  });

  it('is up to date (run `npm run docs:config` after changing a setting)', () => {
    expect(readFileSync(CONFIGURATION_DOC, 'utf8')).toBe(renderConfigurationDoc(source));
  });
});
