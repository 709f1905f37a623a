/**
 * A reference, not a baseline: GET /api/vms's database work and JSON without any framework. node:http
 * and node-postgres run the same list SQL as a prepared statement (as the service does) and answer the
 * same page through the service's own mappers; no token check, no middleware, no validation. It shows
 * how much of the bare-framework rate the list's own work leaves on this machine.
 * Started by bench/run.ts with PORT and DATABASE_URL; the user comes from the path (/vms/<user id>).
 */
import { createServer } from 'node:http';
import { Pool } from 'pg';
import { mapPage } from '../src/common/pagination';
import { toVmResponse } from '../src/modules/vms/dto/vm-response.dto';
import { VM_COLUMNS, vmFromRow, type VmRow } from '../src/modules/vms/vm-row';

const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.DB_POOL_SIZE ?? 10) });
const LIST = {
  name: 'raw_list_vms',
  text: `SELECT ${VM_COLUMNS} FROM vms WHERE user_id = $1 AND status <> 'destroyed' ORDER BY created_at DESC, id DESC LIMIT $2`,
};

const server = createServer((req, res) => {
  const userId = req.url?.split('/')[2] ?? '';
  pool.query<VmRow>({ ...LIST, values: [userId, 21] }).then(
    (r) => {
      const body = JSON.stringify(mapPage({ items: r.rows.slice(0, 20).map(vmFromRow), next_cursor: null }, toVmResponse));
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(body);
    },
    (err: Error) => res.writeHead(500).end(err.message),
  );
});
server.listen(Number(process.env.PORT ?? 3998), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => void pool.end().then(() => process.exit(0))));
