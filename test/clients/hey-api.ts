/** The short flow through @hey-api/openapi-ts's SDK functions (see test/packaging/generators.e2e-spec.ts). */
import { client } from './generated/client.gen.js';
import { createVm, getVm, login, registerUser } from './generated/sdk.gen.js';

const tag = process.env.FLOW_TAG!;
let token: string | undefined;
client.setConfig({ baseUrl: process.env.API_URL!, auth: () => token });

const credentials = { email: `${tag}@example.com`, password: 'correct horse battery' };
const registered = await registerUser({ body: { username: tag, ...credentials } });
const loggedIn = await login({ body: credentials });
token = loggedIn.data?.access_token;
const created = await createVm({ body: { name: `${tag}-vm`, os_type: 'ubuntu-24.04', ram_mb: 1024, disk_gb: 20, cpu_cores: 2 } });
const id = created.data?.id ?? '';
const got = await getVm({ path: { id } });
const huge = await createVm({ body: { name: `${tag}-huge`, os_type: 'ubuntu-24.04', ram_mb: 65536, disk_gb: 2048, cpu_cores: 32 } });

console.log(
  JSON.stringify({
    register: registered.response?.status,
    login: loggedIn.response?.status,
    create: created.response?.status,
    get: { status: got.response?.status, same_id: got.data?.id === id, name: got.data?.name },
    insufficient: { status: huge.response?.status, code: huge.error?.code, cost: huge.error?.code === 'credits.insufficient' ? huge.error.cost : null },
  }),
);
