import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { LRUCache } from 'lru-cache';
import type { Env } from '../../config/env.validation';
import { DATABASE_URL } from '../../database/database.tokens';
import { PgListener } from '../../database/pg-listener';
import type { User } from './entities/user.entity';

/**
 * What a token resolves to: the user, the token version their tokens must carry, and the `jti`s of
 * their tokens ended by logout that have not expired yet (few: one per logout within a token lifetime).
 */
export type Identity = Pick<User, 'id' | 'role' | 'username' | 'email' | 'tokenVersion'> & {
  revokedJtis: ReadonlySet<string>;
  /**
   * The user's API tokens (not revoked), by id, expired ones included: the guard checks `expiresAt` on
   * each request, and tells an expired token (401 auth.token_expired) from a revoked one.
   */
  apiTokens: ReadonlyMap<string, ApiTokenGrant>;
};

/** An API token as the identity carries it: its scopes as stored and its expiry (ms since the epoch; null = never). */
export interface ApiTokenGrant {
  scopes: readonly string[];
  expiresAt: number | null;
}

/** NOTIFYed with a user id by the users_identity_changed trigger (migration UsersIdentityNotify). */
export const USERS_CHANNEL = 'vmapi_users';
const MAX_ENTRIES = 10_000;

/**
 * Active users' identities, so an authenticated request does not read the users table first.
 *
 * Only used while this process LISTENs for user changes: a trigger NOTIFYs on commit of any change to
 * role, active flag, username, email, password hash or token version, a delete, or a logout (a row in
 * revoked_tokens), a change to their API tokens (api_tokens: created, revoked, scopes or expiry changed), whoever makes it (the API, a script, psql), and the entry is dropped. While that connection is down every request reads the database and nothing
 * is kept. A read that overlapped an invalidation is not kept either (generation counter), so a
 * deactivation is never undone by a slower read. Entries also expire after AUTH_CACHE_SECONDS.
 */
@Injectable()
export class IdentityCache implements BeforeApplicationShutdown {
  private readonly logger = new Logger(IdentityCache.name);
  /** At most MAX_ENTRIES, each for AUTH_CACHE_SECONDS (lru-cache drops the least recently used first). */
  private readonly entries: LRUCache<string, Identity>;
  private readonly ttlMs: number;
  private readonly listener: PgListener;
  private generation = 0;
  private listenRequested = false;
  private readonly watchers: ((userId: string | null) => void)[] = [];

  constructor(@Inject(DATABASE_URL) url: string, config: ConfigService<Env, true>) {
    this.ttlMs = config.get('AUTH_CACHE_SECONDS', { infer: true }) * 1000;
    this.entries = new LRUCache<string, Identity>({ max: MAX_ENTRIES, ...(this.ttlMs > 0 ? { ttl: this.ttlMs } : {}) });
    this.listener = new PgListener({
      url,
      applicationName: 'vmapi-users',
      channel: USERS_CHANNEL,
      onNotification: (userId) => {
        this.invalidate(userId);
        this.changed(userId);
      },
      onLost: () => this.invalidateAll(),
      // Notifications sent while the connection was down were missed: anyone may have changed.
      onReconnected: () => this.changed(null),
    });
  }

  /** Whether changes to users are being heard right now (else watchers must poll). */
  get listening(): boolean {
    return this.listener.listening;
  }

  /**
   * Calls `watcher` with a user's id when PostgreSQL says that user's identity changed (committed),
   * and with null after a reconnect (changes may have been missed), while listening (see `listen`).
   */
  watch(watcher: (userId: string | null) => void): void {
    this.watchers.push(watcher);
  }

  private changed(userId: string | null): void {
    for (const watcher of this.watchers) watcher(userId);
  }

  /** The cached identity of `id`, else `load(id)` (kept when active and nothing changed meanwhile). */
  async get(id: string, load: (id: string) => Promise<Identity | null>): Promise<Identity | null> {
    if (this.ttlMs === 0) return load(id);
    if (!this.listener.listening) {
      this.listen();
      return load(id);
    }
    const hit = this.entries.get(id);
    if (hit) return hit;
    const generation = this.generation;
    const identity = await load(id);
    this.entries.delete(id);
    if (identity && generation === this.generation && this.listener.listening) {
      this.entries.set(id, identity);
    }
    return identity;
  }

  /** Forgets one user (also called by this process right after its own change commits). */
  invalidate(id: string): void {
    this.generation++;
    this.entries.delete(id);
  }

  private invalidateAll(): void {
    this.generation++;
    this.entries.clear();
  }

  /** Connects in the background, once (PgListener retries); requests read the database until it is LISTENing. */
  listen(): void {
    if (this.listenRequested) return;
    this.listenRequested = true;
    this.listener
      .start()
      .catch((err: Error) => this.logger.warn(`Cannot LISTEN for user changes yet (identities are read per request): ${err.message}`));
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.listenRequested = true;
    await this.listener.close();
  }
}
