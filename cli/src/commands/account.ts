import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { unwrap, type components, type Event } from '@vm-platform/sdk';
import type { Command } from 'commander';
import { CliError, EXIT } from '../errors.js';
import { all, collect, integer, type Runtime } from '../runtime.js';

export function registerAccount(program: Command, rt: Runtime): void {
  const key = program.command('ssh-key').description('your SSH public keys, installed on VMs at create');
  key
    .command('add <file>')
    .description('add a public key file (e.g. ~/.ssh/id_ed25519.pub)')
    .option('--name <name>', 'its label (default: the file name without .pub)')
    .action(async (file: string, o: { name?: string }) => {
      const publicKey = (await readFile(file, 'utf8')).trim();
      const name = o.name ?? basename(file).replace(/\.pub$/, '');
      const added = unwrap(await (await rt.client()).POST('/api/ssh-keys', { body: { name, public_key: publicKey } }));
      rt.print(added, () => ({
        head: ['NAME', 'TYPE', 'FINGERPRINT', 'ID'],
        rows: [[added.name, added.type, added.fingerprint, added.id]],
      }));
    });
  key
    .command('list')
    .description('your SSH keys')
    .action(async () => {
      const api = await rt.client();
      const keys = await all(api.paginate('/api/ssh-keys', { query: { limit: 100 } }));
      rt.print(keys, () => ({ head: ['NAME', 'TYPE', 'FINGERPRINT', 'ID'], rows: keys.map((k) => [k.name, k.type, k.fingerprint, k.id]) }));
    });
  key
    .command('delete <name-or-id>')
    .description('remove a key (VMs keep their copy)')
    .action(async (nameOrId: string) => {
      const api = await rt.client();
      for await (const k of api.paginate('/api/ssh-keys', { query: { limit: 100 } })) {
        if (k.id === nameOrId || k.name === nameOrId) {
          unwrap(await api.DELETE('/api/ssh-keys/{id}', { params: { path: { id: k.id } } }));
          return;
        }
      }
      throw new CliError(EXIT.notFound, `no SSH key named "${nameOrId}"`);
    });

  program
    .command('credits')
    .description('your balance and latest ledger entries')
    .option('-n, --limit <n>', 'ledger entries to show', '10')
    .action(async (o: { limit: string }) => {
      const api = await rt.client();
      const me = unwrap(await api.GET('/api/users/me'));
      const ledger = unwrap(
        await api.GET('/api/credits/transactions', { params: { query: { limit: integer(o.limit, '--limit') } } }),
      ).items;
      rt.print({ balance: me.credits, transactions: ledger }, () => ({
        head: ['WHEN', 'KIND', 'AMOUNT', 'BALANCE', 'REASON'],
        rows: ledger.map((t) => [t.created_at, t.kind, t.amount > 0 ? `+${t.amount}` : t.amount, t.balance_after, t.reason]),
      }));
      if (!rt.json) rt.note(`balance: ${me.credits} credits`);
    });

  program
    .command('events')
    .description('your audit events')
    .command('tail')
    .description('follow the event stream (Ctrl-C ends it); -o json prints one JSON object a line')
    .option('-n, --limit <n>', 'exit after this many events')
    .option('--after <event-id>', 'replay the events after this one first')
    .option('--admin', "every user's events and admin events (admins)")
    .action(async (o: { limit?: string; after?: string; admin?: boolean }) => {
      const limit = o.limit === undefined ? Infinity : integer(o.limit, '--limit');
      const api = await rt.client();
      const stop = new AbortController();
      const onSignal = () => {
        stop.abort();
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      let count = 0;
      try {
        for await (const event of api.events({ signal: stop.signal, after: o.after, admin: o.admin })) {
          process.stdout.write(rt.json ? `${JSON.stringify(event)}\n` : line(event));
          if (++count >= limit) break;
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });

  const token = program.command('token').description('API tokens for scripts and CI (the secret is shown once)');
  token
    .command('create <name>')
    .description('create a token with these scopes')
    .requiredOption('-s, --scope <scope>', 'a scope, e.g. vms:read (repeatable)', collect)
    .option('--expires-in-days <days>', 'expire after this many days')
    .action(async (name: string, o: { scope: string[]; expiresInDays?: string }) => {
      const body = {
        name,
        scopes: o.scope as components['schemas']['ApiScope'][],
        ...(o.expiresInDays ? { expires_in_days: integer(o.expiresInDays, '--expires-in-days') } : {}),
      };
      const created = unwrap(await (await rt.client()).POST('/api/tokens', { body }));
      rt.print(created, () => ({
        head: ['NAME', 'SCOPES', 'EXPIRES', 'ID', 'TOKEN'],
        rows: [[created.name, created.scopes.join(','), created.expires_at, created.id, created.token]],
      }));
      if (!rt.json) rt.note('store the token now: it is not shown again');
    });
  token
    .command('list')
    .description('your tokens (never their secrets)')
    .action(async () => {
      const tokens = await all((await rt.client()).paginate('/api/tokens', { query: { limit: 100 } }));
      rt.print(tokens, () => ({
        head: ['NAME', 'SCOPES', 'CREATED', 'EXPIRES', 'LAST USED', 'ID'],
        rows: tokens.map((t) => [t.name, t.scopes.join(','), t.created_at, t.expires_at, t.last_used_at, t.id]),
      }));
    });
  token
    .command('revoke <name-or-id>')
    .description('revoke a token (its next request is refused)')
    .action(async (nameOrId: string) => {
      const api = await rt.client();
      const tokens = await all(api.paginate('/api/tokens', { query: { limit: 100 } }));
      const byId = tokens.filter((t) => t.id === nameOrId);
      const matches = byId.length ? byId : tokens.filter((t) => t.name === nameOrId);
      const [t] = matches;
      if (!t) throw new CliError(EXIT.notFound, `no API token named "${nameOrId}" (vmctl token list shows yours)`);
      // Names need not be unique: never guess which one.
      if (matches.length > 1) throw new CliError(EXIT.usage, `${matches.length} tokens are named "${nameOrId}": revoke one by its id`);
      unwrap(await api.DELETE('/api/tokens/{id}', { params: { path: { id: t.id } } }));
      rt.note(`revoked ${t.name} (${t.id})`);
    });
}

function line(e: Event): string {
  return `${e.created_at}  ${e.severity.padEnd(8)}  ${e.action.padEnd(24)}  ${e.message}\n`;
}
