/** The short flow through swagger-typescript-api's Api class (see test/packaging/generators.e2e-spec.ts). */
import { Api, type HttpResponse } from './generated/api.js';

const tag = process.env.FLOW_TAG!;
const api = new Api<string>({
  baseUrl: process.env.API_URL!,
  securityWorker: (token) => (token ? { headers: { Authorization: `Bearer ${token}` } } : {}),
});

// Its methods reject with the response (carrying the parsed problem as `error`) on any non-2xx status.
type CreateVmProblem = Awaited<ReturnType<typeof api.api.createVm>>['error'];
const failure = (e: unknown) => e as HttpResponse<unknown, CreateVmProblem>;

const credentials = { email: `${tag}@example.com`, password: 'correct horse battery' };
const register = await api.api.registerUser({ username: tag, ...credentials });
const login = await api.api.login(credentials);
api.setSecurityData(login.data.access_token);
const create = await api.api.createVm({ name: `${tag}-vm`, os_type: 'ubuntu-24.04', ram_mb: 1024, disk_gb: 20, cpu_cores: 2 });
const get = await api.api.getVm(create.data.id);
const huge = await api.api
  .createVm({ name: `${tag}-huge`, os_type: 'ubuntu-24.04', ram_mb: 65536, disk_gb: 2048, cpu_cores: 32 })
  .then(() => null, failure);

console.log(
  JSON.stringify({
    register: register.status,
    login: login.status,
    create: create.status,
    get: { status: get.status, same_id: get.data.id === create.data.id, name: get.data.name },
    insufficient: { status: huge?.status, code: huge?.error.code, cost: huge?.error.code === 'credits.insufficient' ? huge.error.cost : null },
  }),
);
