import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { EventStreamService } from '../events/event-stream.service';
import { IdentityCache } from './identity-cache';
import { UsersService } from './users.service';

/** While the users LISTEN connection is down, stream owners are re-read this often instead. */
const POLL_MS = 2000;

/**
 * Keeps live event streams authorized after they open: when a stream owner is deactivated, deleted
 * or changes role, or their token is ended (logout, password change, sign out everywhere: the users
 * and revoked_tokens triggers NOTIFY on commit, whoever made the change), their streams that no
 * longer match end at once. While that notification connection is down, owners are re-read every
 * POLL_MS, so a revocation reaches a stream within seconds either way. (Token expiry is enforced by
 * EventStreamService itself.)
 */
@Injectable()
export class StreamRevocation implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(StreamRevocation.name);
  private poll?: NodeJS.Timeout;
  private checking: Promise<void> = Promise.resolve();

  constructor(
    private readonly identities: IdentityCache,
    private readonly users: UsersService,
    private readonly streams: EventStreamService,
  ) {}

  onModuleInit(): void {
    this.identities.watch((userId) => this.recheck(userId ? [userId] : this.streams.ownerIds()));
    this.poll = setInterval(() => {
      if (!this.streams.size) return;
      this.identities.listen();
      if (!this.identities.listening) this.recheck(this.streams.ownerIds());
    }, POLL_MS).unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.poll);
  }

  /** Re-reads each owner (serialized, so an older read never lands after a newer one) and revokes. */
  private recheck(userIds: string[]): void {
    const owners = new Set(this.streams.ownerIds());
    const ids = userIds.filter((id) => owners.has(id));
    if (!ids.length) return;
    this.checking = this.checking.then(async () => {
      for (const id of ids) {
        try {
          const ended = this.streams.revoke(id, await this.users.findActiveIdentity(id));
          if (ended) this.logger.log(`Ended ${ended} event stream(s) of user ${id}: no longer authorized`);
        } catch (err) {
          this.logger.warn(`Cannot re-check event stream owner ${id} (retried while streams stay open): ${(err as Error).message}`);
        }
      }
    });
  }
}
