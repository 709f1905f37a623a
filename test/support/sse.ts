import { request as httpRequest, IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from './test-app';
import { eventually } from './factories';

export interface SseMessage {
  id?: string;
  data: any;
}

export interface SseClient {
  status: number;
  headers: IncomingMessage['headers'];
  /** Parsed messages so far (data JSON-decoded). */
  messages: SseMessage[];
  /** The raw text received, comments and retry lines included. */
  raw: () => string;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  /** Polls until `count` messages arrived that match `filter`; returns them. */
  waitFor(count: number, filter?: (m: SseMessage) => boolean, timeoutMs?: number): Promise<SseMessage[]>;
  close(): void;
}

/** Makes the app listen on a free local port (SSE needs a long-lived connection); returns its base URL. */
export async function listen(ctx: TestContext): Promise<string> {
  const server = ctx.app.getHttpServer();
  if (!server.listening) await ctx.app.listen(0, '127.0.0.1');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A minimal EventSource: GET with headers, parses `id:` / `data:` frames as they arrive. */
export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
      let text = '';
      let pending = '';
      const messages: SseMessage[] = [];
      res.setEncoding('utf8');
      const ended = new Promise<void>((done) => {
        res.on('end', done);
        res.on('close', done);
        res.on('error', () => done());
      });
      res.on('data', (chunk: string) => {
        text += chunk;
        pending += chunk;
        let cut: number;
        while ((cut = pending.indexOf('\n\n')) >= 0) {
          const frame = pending.slice(0, cut);
          pending = pending.slice(cut + 2);
          let id: string | undefined;
          const data: string[] = [];
          for (const line of frame.split('\n')) {
            if (line.startsWith('id: ')) id = line.slice(4);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length) {
            const joined = data.join('\n');
            let parsed: unknown = joined;
            try {
              parsed = JSON.parse(joined);
            } catch {
              /* not JSON: keep the text */
            }
            messages.push({ id, data: parsed });
          }
        }
      });
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        messages,
        raw: () => text,
        ended,
        waitFor: (count, filter = () => true, timeoutMs = 15_000) =>
          eventually(
            async () => {
              const hits = messages.filter(filter);
              return hits.length >= count ? hits : null;
            },
            timeoutMs,
            `${count} SSE messages from ${url}`,
          ),
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end();
  });
}
