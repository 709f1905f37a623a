import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError, EXIT } from './errors.js';

/** One API and the token to call it with. */
export interface Context {
  url: string;
  token: string;
}

export interface Config {
  current?: string;
  contexts: Record<string, Context>;
}

/** $VMCTL_CONFIG, else $XDG_CONFIG_HOME/vmctl/config.json, else ~/.config/vmctl/config.json. */
export function configPath(): string {
  if (process.env.VMCTL_CONFIG) return process.env.VMCTL_CONFIG;
  const base = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'vmctl', 'config.json');
}

export async function loadConfig(): Promise<Config> {
  let text: string;
  try {
    text = await readFile(configPath(), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { contexts: {} };
    throw err;
  }
  const parsed = JSON.parse(text) as Partial<Config>;
  return { current: parsed.current, contexts: parsed.contexts ?? {} };
}

/** Writes the file readable by its owner only (it holds tokens): a temporary file at 0600, then renamed over. */
export async function saveConfig(config: Config): Promise<void> {
  const path = configPath();
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600); // the mode above is filtered by the umask
  await rename(tmp, path);
}

/**
 * The context to use: --context, else $VMCTL_CONTEXT, else the current one. $VMCTL_URL and
 * $VMCTL_TOKEN (both) stand for a context without a file, for CI jobs holding the token as a secret.
 */
export async function resolveContext(name: string | undefined): Promise<Context & { name: string }> {
  const { VMCTL_URL, VMCTL_TOKEN } = process.env;
  if (!name && VMCTL_URL && VMCTL_TOKEN) return { name: '(environment)', url: VMCTL_URL, token: VMCTL_TOKEN };
  const config = await loadConfig();
  const chosen = name ?? process.env.VMCTL_CONTEXT ?? config.current;
  if (!chosen) throw new CliError(EXIT.auth, `no context: run \`vmctl auth init --url URL\` first (config: ${configPath()})`);
  const context = config.contexts[chosen];
  if (!context) throw new CliError(EXIT.auth, `no context named "${chosen}" in ${configPath()} (vmctl auth list shows them)`);
  return { name: chosen, ...context };
}
