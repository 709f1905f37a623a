import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DataSource, EntityManager } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';

import { uniqueViolation } from '../../common/db-errors';
import { Page, PageQueryDto } from '../../common/pagination';
import type { Env } from '../../config/env.validation';
import type { AuthUser } from '../../common/auth';
import { EventsService } from '../events/events.service';
import { CreateSshKeyDto } from './dto/ssh-key.dto';
import type { SshKey } from './entities/ssh-key.entity';
import { SshKeysRepository } from './ssh-keys.repository';
import { parseSshPublicKey, type SshKeyType } from './ssh-key-parser';
import { SSH_KEY_ERRORS } from './ssh-keys.errors';

/** A key as a VM was created with: copied into the VM, so deleting the key later changes no VM. */
export interface SshKeySnapshot {
  id: string;
  name: string;
  type: SshKeyType;
  fingerprint: string;
  public_key: string;
}

@Injectable()
export class SshKeysService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly keys: SshKeysRepository,
    private readonly events: EventsService,
    private readonly config: ConfigService<Env, true>,
  ) {}

  /** Parses and stores a public key with its event, in one transaction; refuses duplicates and keys past the limit. */
  async create(user: AuthUser, dto: CreateSshKeyDto): Promise<SshKey> {
    const parsed = parseSshPublicKey(dto.public_key);
    const max = this.config.get('SSH_KEYS_MAX_PER_USER', { infer: true });
    try {
      return await this.dataSource.transaction(async (m) => {
        // Serializes one user's concurrent adds, so the count below cannot be passed by two at once.
        // NO KEY UPDATE: rows that reference the user (VMs, events) can still be inserted meanwhile.
        await this.keys.lockOwner(m, user.id);
        const count = await this.keys.count(m, user.id);
        if (count >= max) {
          throw SSH_KEY_ERRORS.error('ssh_key.limit_reached', `You have ${count} SSH keys, the most allowed; delete one first`, {
            limit: max,
          });
        }
        const key = await this.keys.insert(m, {
          id: uuidv7(),
          userId: user.id,
          name: dto.name,
          type: parsed.type,
          bits: parsed.bits,
          fingerprint: parsed.fingerprint,
          publicKey: parsed.publicKey,
        } as SshKey);
        await this.events.record(m, {
          action: 'auth.ssh_key_added',
          message: `SSH key ${key.name} added (${key.type}, ${key.fingerprint})`,
          details: { ssh_key_id: key.id, name: key.name, type: key.type, bits: key.bits, fingerprint: key.fingerprint },
          userId: user.id,
        });
        return key;
      });
    } catch (err) {
      const constraint = uniqueViolation(err);
      if (constraint === 'ssh_keys_user_name_key')
        throw SSH_KEY_ERRORS.error('ssh_key.name_taken', `You already have an SSH key named ${dto.name}`);
      if (constraint === 'ssh_keys_user_fingerprint_key') {
        throw SSH_KEY_ERRORS.error('ssh_key.already_added', `You already added this key (${parsed.fingerprint})`);
      }
      throw err;
    }
  }

  /** The user's keys, newest first. */
  list(userId: string, page: PageQueryDto): Promise<Page<SshKey>> {
    return this.keys.list(userId, page);
  }

  /** One of the user's keys; anyone else's is "not found". */
  async get(userId: string, id: string): Promise<SshKey> {
    const key = await this.keys.findOwn(userId, id);
    if (!key) throw SSH_KEY_ERRORS.error('ssh_key.not_found', 'SSH key not found');
    return key;
  }

  /** Deletes one of the user's keys with its event. VMs created with it keep their copy. */
  async delete(user: AuthUser, id: string): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      const key = await this.keys.deleteOwn(m, user.id, id);
      if (!key) throw SSH_KEY_ERRORS.error('ssh_key.not_found', 'SSH key not found');
      await this.events.record(m, {
        action: 'auth.ssh_key_deleted',
        message: `SSH key ${key.name} deleted (${key.fingerprint})`,
        details: { ssh_key_id: key.id, name: key.name, type: key.type, fingerprint: key.fingerprint },
        userId: user.id,
      });
    });
  }

  /**
   * The user's keys with these ids, in the order asked, for a VM being created in transaction `m`.
   * An id that is not one of the user's keys refuses the whole create (nothing of it is written).
   */
  async snapshotFor(m: EntityManager, userId: string, ids: readonly string[]): Promise<SshKeySnapshot[]> {
    if (!ids.length) return [];
    const found = await this.keys.findOwnMany(m, userId, ids);
    const byId = new Map(found.map((k) => [k.id, k]));
    const missing = ids.filter((id) => !byId.has(id));
    if (missing.length) {
      throw SSH_KEY_ERRORS.error('vm.unknown_ssh_key', `No SSH key of yours has the id ${missing.join(', ')}`, { ssh_key_ids: missing });
    }
    return ids.map((id) => {
      const k = byId.get(id)!;
      return { id: k.id, name: k.name, type: k.type, fingerprint: k.fingerprint, public_key: k.publicKey };
    });
  }
}
