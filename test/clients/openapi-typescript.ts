/** The short flow through openapi-typescript's types and openapi-fetch (see test/packaging/generators.e2e-spec.ts). */
import createClient from 'openapi-fetch';
import type { paths } from './generated/schema.js';

const tag = process.env.FLOW_TAG!;
let token: string | undefined;
const api = createClient<paths>({ baseUrl: process.env.API_URL! });
api.use({ onRequest: ({ request }) => (token && request.headers.set('Authorization', `Bearer ${token}`), request) });

const credentials = { email: `${tag}@example.com`, password: 'correct horse battery' };
const register = await api.POST('/api/auth/register', { body: { username: tag, ...credentials } });
const login = await api.POST('/api/auth/login', { body: credentials });
token = login.data?.access_token;
const create = await api.POST('/api/vms', { body: { name: `${tag}-vm`, os_type: 'ubuntu-24.04', ram_mb: 1024, disk_gb: 20, cpu_cores: 2 } });
const id = create.data?.id ?? '';
const get = await api.GET('/api/vms/{id}', { params: { path: { id } } });
const huge = await api.POST('/api/vms', { body: { name: `${tag}-huge`, os_type: 'ubuntu-24.04', ram_mb: 65536, disk_gb: 2048, cpu_cores: 32 } });

console.log(
  JSON.stringify({
    register: register.response.status,
    login: login.response.status,
    create: create.response.status,
    get: { status: get.response.status, same_id: get.data?.id === id, name: get.data?.name },
    insufficient: { status: huge.response.status, code: huge.error?.code, cost: huge.error?.code === 'credits.insufficient' ? huge.error.cost : null },
  }),
);
