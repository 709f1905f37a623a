/**
 * A program written against the published `@vm-platform/sdk`, as its README shows: the SDK tarball
 * test installs the tarball into a scratch project, compiles this file there under `tsc --strict`
 * (NodeNext and Bundler resolution) and runs it against a live API (API_URL, CONSUMER_TAG).
 */
import { createVmPlatformClient, type components } from '@vm-platform/sdk';

type Vm = components['schemas']['VmResponseDto'];

const baseUrl = process.env.API_URL ?? 'http://localhost:3000';
const tag = process.env.CONSUMER_TAG ?? 'consumer';
const credentials = { email: `${tag}@example.com`, password: 'correct horse battery' };

let token: string | undefined;
const api = createVmPlatformClient({ baseUrl, token: () => token });

const registered = await api.POST('/api/auth/register', { body: { username: tag, ...credentials } });
if (registered.error && registered.error.code !== 'user.username_taken') throw new Error(`register: ${registered.error.code}`);

const login = await api.POST('/api/auth/login', { body: credentials });
if (login.error) throw new Error(`login: ${login.error.code}: ${login.error.detail}`);
token = login.data.access_token;

const created = await api.POST('/api/vms', {
  body: { name: `${tag}-vm`, os_type: 'ubuntu-24.04', ram_mb: 1024, disk_gb: 20, cpu_cores: 2 },
});
if (created.error) throw new Error(`create: ${created.error.code}`);
const vm: Vm = created.data;

// Errors are problem+json bodies: branch on their stable `code`.
const tooBig = await api.POST('/api/vms', {
  body: { name: `${tag}-huge`, os_type: 'ubuntu-24.04', ram_mb: 65536, disk_gb: 2048, cpu_cores: 32 },
});
let refusal: { status: number; code: string; cost?: number; balance?: number } | undefined;
if (tooBig.error) {
  const problem = tooBig.error;
  switch (problem.code) {
    case 'credits.insufficient':
      refusal = { status: tooBig.response.status, code: problem.code, cost: problem.cost, balance: problem.balance };
      break;
    default:
      throw new Error(`unexpected ${problem.status} ${problem.code}: ${problem.detail}`);
  }
}

console.log(
  JSON.stringify({
    register: registered.response.status,
    login: login.response.status,
    create: { status: created.response.status, vm_status: vm.status, name: vm.name },
    refusal,
  }),
);
