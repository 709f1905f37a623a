import { Logger } from '@nestjs/common';
import { readdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:net';
import type { Socket } from 'node:net';

/**
 * File descriptors kept free for everything but client connections, beyond those open when the limit
 * is computed and the database pools still to fill: log files, static files being served, DNS, the
 * pipes of provider processes (vagrant) a worker runs.
 */
export const FD_RESERVE = 32;

/** The process's soft limit on open files (Linux), or undefined where it cannot be read. */
export function openFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft && /^\d+$/.test(soft) ? Number(soft) : undefined;
  } catch {
    return undefined;
  }
}

function openFiles(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return 0;
  }
}

/**
 * The overall connection cap: `configured` if set, else (and never above) what the open-file limit
 * leaves once the files open now, the database connections still to open and FD_RESERVE are counted.
 * Client connections then can never take the descriptors PostgreSQL connections need (EMFILE there
 * would fail requests that have nothing to do with the flood).
 */
export function connectionCap(configured: number, databaseConnections: number): { cap: number; fileLimit?: number } {
  const fileLimit = openFileLimit();
  if (fileLimit === undefined) return { cap: configured };
  const room = Math.max(1, fileLimit - openFiles() - databaseConnections - FD_RESERVE);
  return { cap: configured > 0 ? Math.min(configured, room) : room, fileLimit };
}

export interface ConnectionLimits {
  /** Open connections in all (0 = no cap). */
  max: number;
  /** Open connections per TCP peer address (0 = no cap). */
  perAddress: number;
  /** Peers not counted per address (trusted proxies: every client behind them shares their address). */
  exempt: (address: string) => boolean;
}

/**
 * Caps open connections: past `max`, Node closes new connections as they are accepted (server.maxConnections);
 * past `perAddress` from one peer, the new connection is closed at once. Either way the client sees the
 * connection closed before any answer, its descriptor is freed at once, and no request on it is read.
 * Refusals are counted and logged at most once every 10 s.
 */
export function limitConnections(server: Server, limits: ConnectionLimits): void {
  const logger = new Logger('Connections');
  let refused = { total: 0, perAddress: 0 };
  let logTimer: NodeJS.Timeout | undefined;
  const note = (kind: 'total' | 'perAddress') => {
    refused[kind]++;
    logTimer ??= setTimeout(() => {
      logger.warn(
        `Refused connections in the last 10 s: ${refused.total} past MAX_CONNECTIONS (${limits.max}), ${refused.perAddress} past MAX_CONNECTIONS_PER_IP (${limits.perAddress})`,
      );
      refused = { total: 0, perAddress: 0 };
      logTimer = undefined;
    }, 10_000).unref();
  };
  if (limits.max > 0) {
    server.maxConnections = limits.max;
    server.on('drop', () => note('total'));
  }
  if (limits.perAddress <= 0) return;
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress;
    if (!address || limits.exempt(address)) return;
    const count = (open.get(address) ?? 0) + 1;
    if (count > limits.perAddress) {
      note('perAddress');
      socket.destroy();
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
  });
}
