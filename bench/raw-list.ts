/**
 * The reads' reference, not a baseline: GET /api/vms's and GET /api/vms/{id}'s database work and JSON
 * without any framework. node:http and node-postgres run the service's own SQL as prepared statements
 * (as the service does) and answer through the service's own mappers; no token check, no middleware,
 * no validation. The service's CPU per request is compared with this one's (bench/run.ts).
 * Started by bench/run.ts with PORT and DATABASE_URL; the user comes from the path:
 *   /vms/<user id>            the first page of that user's VMs (20)
 *   /vms/<user id>/<vm id>    one of that user's VMs (404 when not theirs)
 */
import { createServer, type ServerResponse } from 'node:http';
import { Pool } from 'pg';
import { mapPage } from '../src/common/pagination';
import { toVmResponse } from '../src/modules/vms/dto/vm-response.dto';
import { VM_COLUMNS, vmFromRow, type VmRow } from '../src/modules/vms/vms.repository';

const pool = new Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.DB_POOL_SIZE ?? 10),
  // bench/run.ts finds this process's backends by name to measure their CPU.
  application_name: process.env.PGAPPNAME ?? 'bench-raw',
});
const LIST = {
  name: 'raw_list_vms',
  text: `SELECT ${VM_COLUMNS} FROM vms WHERE user_id = $1 AND status <> 'destroyed' ORDER BY created_at DESC, id DESC LIMIT $2`,
};
const GET = { name: 'raw_get_vm', text: `SELECT ${VM_COLUMNS} FROM vms WHERE id = $1 AND user_id = $2` };

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

const server = createServer((req, res) => {
  const [, , userId = '', vmId] = req.url?.split('/') ?? [];
  const query = vmId
    ? pool
        .query<VmRow>({ ...GET, values: [vmId, userId] })
        .then((r) => (r.rows.length ? json(res, 200, toVmResponse(vmFromRow(r.rows[0]!))) : json(res, 404, { code: 'vm.not_found' })))
    : pool
        .query<VmRow>({ ...LIST, values: [userId, 21] })
        .then((r) => json(res, 200, mapPage({ items: r.rows.slice(0, 20).map(vmFromRow), next_cursor: null }, toVmResponse)));
  query.catch((err: Error) => res.writeHead(500).end(err.message));
});
server.listen(Number(process.env.PORT ?? 3998), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => void pool.end().then(() => process.exit(0))));
