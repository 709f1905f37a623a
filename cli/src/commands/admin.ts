import { unwrap, type components, type VmPlatformClient } from '@vm-platform/sdk';
import type { Command } from 'commander';
import { CliError, EXIT } from '../errors.js';
import { all, integer, type Runtime } from '../runtime.js';

type Host = components['schemas']['HostResponseDto'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A user by id, email or username. */
async function findUserId(api: VmPlatformClient, who: string): Promise<string> {
  if (UUID.test(who)) return who;
  const query = who.includes('@') ? { email_prefix: who } : { username_prefix: who };
  for await (const u of api.paginate('/api/admin/users', { query: { limit: 100, ...query } }))
    if (u.email === who || u.username === who) return u.id;
  throw new CliError(EXIT.notFound, `no user "${who}"`);
}

const res = (r: { cpu_cores: number; ram_mb: number; disk_gb: number }) => `${r.cpu_cores}c/${r.ram_mb}M/${r.disk_gb}G`;

export function registerAdmin(program: Command, rt: Runtime): void {
  const admin = program.command('admin').description('operator commands (admins)');
  const hosts = admin.command('hosts').description('the hypervisor hosts');

  const showHosts = (list: Host[]) => {
    rt.print(list, () => ({
      head: ['NAME', 'STATUS', 'SCHEDULABLE', 'VMS', 'FREE', 'CAPACITY', 'VERSION', 'REASON'],
      rows: list.map((h) => [
        h.name,
        h.status,
        h.schedulable ? 'yes' : 'drained',
        h.vm_count,
        res(h.free),
        res(h.capacity),
        h.version,
        h.schedulable_reason,
      ]),
    }));
  };

  hosts
    .command('list')
    .description('hosts with their capacity, allocation and state')
    .action(async () => {
      const api = await rt.client();
      showHosts(await all(api.paginate('/api/admin/hosts', { query: { limit: 100 } })));
    });

  for (const [name, schedulable, what] of [
    ['drain', false, 'place no new VMs on a host (its VMs keep running)'],
    ['undrain', true, 'return a drained host to service'],
  ] as const) {
    hosts
      .command(`${name} <host>`)
      .description(what)
      .option('--reason <text>', 'why (recorded in the admin event and shown on the host)')
      .action(async (host: string, o: { reason?: string }) => {
        const api = await rt.client();
        const updated = unwrap(
          await api.PATCH('/api/admin/hosts/{name}', {
            params: { path: { name: host } },
            body: { schedulable, ...(o.reason ? { reason: o.reason } : {}) },
          }),
        );
        showHosts([updated]);
      });
  }

  admin
    .command('credits')
    .description('credit ledger operations')
    .command('adjust <user> <amount>')
    .description('add (or with a negative amount, deduct) credits; <user> is an id, email or username')
    .requiredOption('--reason <text>', "why (in the ledger and the user's feed)")
    .action(async (who: string, amount: string, o: { reason: string }) => {
      const api = await rt.client();
      const id = await findUserId(api, who);
      const entry = unwrap(
        await api.POST('/api/admin/users/{id}/credits', {
          params: { path: { id } },
          body: { amount: integer(amount, 'amount', -1_000_000_000), reason: o.reason },
        }),
      );
      rt.print(entry, () => ({
        head: ['USER', 'AMOUNT', 'BALANCE', 'REASON', 'ID'],
        rows: [[who, entry.amount, entry.balance_after, entry.reason, entry.id]],
      }));
    });
}
