import { BOX_NAME_RE } from './providers/vagrantfile';

/** Built-in os_type -> Vagrant box. OS_CATALOG (a JSON object) adds or replaces entries. */
export const DEFAULT_OS_CATALOG: Readonly<Record<string, string>> = {
  'ubuntu-22.04': 'generic/ubuntu2204',
  'ubuntu-24.04': 'generic/ubuntu2404',
  'debian-12': 'generic/debian12',
  'rocky-9': 'generic/rocky9',
};

export type OsCatalog = Readonly<Record<string, string>>;

export function buildOsCatalog(json?: string): OsCatalog {
  if (!json) return DEFAULT_OS_CATALOG;
  let extra: unknown;
  try {
    extra = JSON.parse(json);
  } catch {
    throw new Error('Invalid configuration:\n  OS_CATALOG: not valid JSON');
  }
  if (!extra || typeof extra !== 'object' || Array.isArray(extra)) {
    throw new Error('Invalid configuration:\n  OS_CATALOG: must be a JSON object of os_type -> box');
  }
  for (const [os, box] of Object.entries(extra)) {
    if (!/^[a-z0-9][a-z0-9.-]{0,31}$/.test(os) || typeof box !== 'string' || !BOX_NAME_RE.test(box)) {
      throw new Error(
        `Invalid configuration:\n  OS_CATALOG: entry ${JSON.stringify(os)} -> ${JSON.stringify(box)} is not os_type -> owner/box`,
      );
    }
  }
  return { ...DEFAULT_OS_CATALOG, ...(extra as Record<string, string>) };
}
