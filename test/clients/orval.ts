/** The short flow through orval's fetch client (see test/packaging/generators.e2e-spec.ts). */
import { createVm, getVm, login, registerUser } from './generated/api.js';

const tag = process.env.FLOW_TAG!;
let auth: RequestInit = {};

const credentials = { email: `${tag}@example.com`, password: 'correct horse battery' };
const register = await registerUser({ username: tag, ...credentials });
const loggedIn = await login(credentials);
if (loggedIn.status === 200) auth = { headers: { Authorization: `Bearer ${loggedIn.data.access_token}` } };
const create = await createVm({ name: `${tag}-vm`, os_type: 'ubuntu-24.04', ram_mb: 1024, disk_gb: 20, cpu_cores: 2 }, auth);
const id = create.status === 202 ? create.data.id : '';
const get = await getVm(id, auth);
const huge = await createVm({ name: `${tag}-huge`, os_type: 'ubuntu-24.04', ram_mb: 65536, disk_gb: 2048, cpu_cores: 32 }, auth);

console.log(
  JSON.stringify({
    register: register.status,
    login: loggedIn.status,
    create: create.status,
    get: { status: get.status, same_id: get.status === 200 && get.data.id === id, name: get.status === 200 ? get.data.name : null },
    insufficient: { status: huge.status, code: huge.status === 402 ? huge.data.code : null, cost: huge.status === 402 && huge.data.code === 'credits.insufficient' ? huge.data.cost : null },
  }),
);
