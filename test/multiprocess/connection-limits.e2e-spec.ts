import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect, type Socket } from 'node:net';
import { api, ensureBuilt, ready, ServiceProcess, startService } from '../support/processes';
import { createTestDatabase, TestDatabase } from '../support/test-app';

const FILE_LIMIT = 80;
const ATTACKERS = 56;

/**
 * The process with few open files (80) that 56 slow-body connections used to starve: health turned
 * 503 and login 500 (EMFILE on the way to PostgreSQL). Now the connection caps keep descriptors for
 * the database and leave room for other clients.
 */
describe('connection caps under a low open-file limit (multi-process)', () => {
  let db: TestDatabase;
  let service: ServiceProcess;
  const held: Socket[] = [];

  beforeAll(async () => {
    ensureBuilt();
    db = await createTestDatabase();
    service = await startService(
      'api',
      'api',
      { DATABASE_URL: db.url, REQUEST_BODY_TIMEOUT_SECONDS: 60, MAX_CONNECTIONS_PER_IP: 64 },
      { fileLimit: FILE_LIMIT },
    );
    await ready(service, 'api');
  });
  afterAll(async () => {
    for (const s of held) s.destroy();
    await service?.kill();
    await db?.drop();
  });

  it('keeps health and login answering while one address holds slow bodies on every connection it can get', async () => {
    const capLine = await service.waitForLine(/At most \d+ open connections/);
    const [, cap, perAddress] = /At most (\d+) open connections \(open-file limit 80\), (\d+) per client address/
      .exec(capLine)!
      .map(Number);
    expect(cap).toBeGreaterThan(0);
    expect(perAddress).toBeLessThanOrEqual(Math.ceil(cap! / 4));
    const credentials = { username: 'fd-user', email: 'fd@example.test', password: 'correct horse battery' };
    expect((await api(service, 'POST', '/api/auth/register', credentials)).status).toBeLessThan(300);

    // 56 connections from 127.0.0.2, each sending a login body that never completes.
    const port = Number(new URL(service.url).port);
    let closedAtOnce = 0;
    await Promise.all(
      Array.from(
        { length: ATTACKERS },
        () =>
          new Promise<void>((resolve) => {
            const s = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' }, () => {
              s.write(
                'POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"email":',
              );
              // Still open 300 ms later: the server holds it.
              setTimeout(() => resolve(), 300);
            });
            s.on('error', () => undefined);
            s.on('close', () => {
              closedAtOnce++;
              resolve();
            });
            held.push(s);
          }),
      ),
    );
    const open = held.filter((s) => !s.destroyed && !s.closed).length;
    console.log(
      `open-file limit ${FILE_LIMIT}: cap ${cap} connections, ${perAddress} per address; of ${ATTACKERS} slow bodies ${open} held, ${closedAtOnce} closed at once`,
    );
    expect(open).toBeLessThanOrEqual(perAddress!);

    // Meanwhile everyone else is served: health and login, never a 5xx.
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      statuses.push((await api(service, 'GET', '/api/health')).status);
      statuses.push((await api(service, 'POST', '/api/auth/login', { email: credentials.email, password: credentials.password })).status);
    }
    expect(statuses).toEqual(Array.from({ length: 20 }, () => 200));
    expect(service.alive()).toBe(true);
    expect(service.lines.filter((l) => /EMFILE|Unhandled/.test(l))).toEqual([]);
  });
});
