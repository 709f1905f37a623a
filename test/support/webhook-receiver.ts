import { createServer, IncomingHttpHeaders, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedHook {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** What a path answers to its n-th request (1-based): a status, a redirect, or no answer at all. */
export type ReceiverBehaviour = (n: number) => number | 'hang' | { redirect: string };

/** A loopback HTTP server that records every webhook it gets, answering per path as told (200 by default). */
export class WebhookReceiver {
  readonly received: ReceivedHook[] = [];
  private readonly behaviours = new Map<string, ReceiverBehaviour>();
  private readonly hanging = new Set<ServerResponse>();
  private server!: Server;
  port = 0;

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = req.url ?? '/';
        this.received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
        const n = this.received.filter((r) => r.path === path).length;
        const action = this.behaviours.get(path)?.(n) ?? 200;
        if (action === 'hang') {
          this.hanging.add(res);
          return;
        }
        if (typeof action === 'object') {
          res.writeHead(302, { location: action.redirect }).end();
          return;
        }
        res.writeHead(action, { 'content-type': 'text/plain' }).end(action < 300 ? 'ok' : 'no');
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** The URL of a path on this receiver, answering as `behaviour` says. */
  url(path: string, behaviour?: ReceiverBehaviour, host = '127.0.0.1'): string {
    if (behaviour) this.behaviours.set(path, behaviour);
    return `http://${host}:${this.port}${path}`;
  }

  at(path: string): ReceivedHook[] {
    return this.received.filter((r) => r.path === path);
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
