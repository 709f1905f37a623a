import { createVmPlatformClient, unwrap } from '@vm-platform/sdk';
import type { Command } from 'commander';
import { configPath, loadConfig, resolveContext, saveConfig } from '../config.js';
import { CliError, EXIT } from '../errors.js';
import type { Runtime } from '../runtime.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

interface InitOptions {
  url: string;
  name: string;
  token?: string;
  tokenStdin?: boolean;
  email?: string;
  passwordStdin?: boolean;
}

export function registerAuth(program: Command, rt: Runtime): void {
  const auth = program.command('auth').description('contexts: which API, with which token');

  auth
    .command('init')
    .description('check a token against an API and store it as a context (the file is readable by you only)')
    .requiredOption('--url <url>', 'the API, e.g. https://vms.example.com')
    .option('--name <context>', 'the context name', 'default')
    .option('--token <token>', 'an API token (or $VMCTL_TOKEN, or --token-stdin: a flag shows in ps)')
    .option('--token-stdin', 'read the token from stdin')
    .option('--email <email>', 'log in instead, with the password from stdin (--password-stdin)')
    .option('--password-stdin', 'read the password for --email from stdin')
    .action(async (o: InitOptions) => {
      const baseUrl = o.url.replace(/\/+$/, '');
      let token = o.tokenStdin ? await readStdin() : (o.token ?? (o.email ? undefined : process.env.VMCTL_TOKEN));
      if (o.email) {
        if (!o.passwordStdin) throw new CliError(EXIT.usage, '--email needs --password-stdin (the password is never taken as an argument)');
        const password = await readStdin();
        const login = unwrap(await createVmPlatformClient({ baseUrl }).POST('/api/auth/login', { body: { email: o.email, password } }));
        token = login.access_token;
      }
      if (!token) throw new CliError(EXIT.usage, 'give --token, --token-stdin, $VMCTL_TOKEN or --email with --password-stdin');
      const me = unwrap(await createVmPlatformClient({ baseUrl, token }).GET('/api/users/me'));
      const config = await loadConfig();
      config.contexts[o.name] = { url: baseUrl, token };
      config.current = o.name;
      await saveConfig(config);
      rt.note(`saved in ${configPath()}`);
      rt.print({ context: o.name, url: baseUrl, user: me }, () => ({
        head: ['CONTEXT', 'URL', 'USER', 'ROLE'],
        rows: [[o.name, baseUrl, me.username, me.role]],
      }));
    });

  auth
    .command('use <context>')
    .description('make a context the current one')
    .action(async (name: string) => {
      const config = await loadConfig();
      if (!config.contexts[name])
        throw new CliError(EXIT.usage, `no context named "${name}": ${Object.keys(config.contexts).join(', ') || 'none yet'}`);
      config.current = name;
      await saveConfig(config);
      rt.note(`current context: ${name}`);
    });

  auth
    .command('list')
    .description('the stored contexts (tokens are not shown)')
    .action(async () => {
      const config = await loadConfig();
      const rows = Object.entries(config.contexts).map(([name, c]) => ({ name, url: c.url, current: name === config.current }));
      rt.print(rows, () => ({ head: ['CURRENT', 'NAME', 'URL'], rows: rows.map((r) => [r.current ? '*' : ' ', r.name, r.url]) }));
    });

  auth
    .command('remove <context>')
    .description('forget a context and its token')
    .action(async (name: string) => {
      const config = await loadConfig();
      if (!config.contexts[name]) throw new CliError(EXIT.usage, `no context named "${name}"`);
      config.contexts = Object.fromEntries(Object.entries(config.contexts).filter(([n]) => n !== name));
      if (config.current === name) delete config.current;
      await saveConfig(config);
    });

  auth
    .command('whoami')
    .description('the user the current context acts as')
    .action(async () => {
      const context = await resolveContext(rt.options.context);
      const me = unwrap(await (await rt.client()).GET('/api/users/me'));
      rt.print(me, () => ({
        head: ['CONTEXT', 'URL', 'USER', 'ROLE', 'CREDITS'],
        rows: [[context.name, context.url, me.username, me.role, me.credits]],
      }));
    });
}
