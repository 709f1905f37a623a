import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { EntityManager } from 'typeorm';
import type { Env } from '../../config/env.validation';
import { QuotaOverrides, UsersService } from '../users/users.service';
import { exceededResource, QUOTA_RESOURCES, QuotaLimits, QuotaUsageDto } from './quotas';
import { VmsRepository } from './vms.repository';
import { VM_ERRORS } from './vms.errors';

/** What a VM needs of a user's quota (`vms`: how many more VMs, 1 unless said: a resize asks for 0). */
export interface QuotaRequest {
  cpu_cores: number;
  ram_mb: number;
  vms?: number;
}

/** OpenStack-style quotas beside credits: per user, VMs, cores and RAM of the VMs not destroyed. */
@Injectable()
export class VmQuotasService {
  constructor(
    private readonly config: ConfigService<Env, true>,
    private readonly users: UsersService,
    private readonly vms: VmsRepository,
  ) {}

  /** A user's limits: their overrides, else the QUOTA_* defaults (0 = no limit). */
  limits(own: QuotaOverrides): QuotaLimits {
    return {
      vms: own.vms ?? this.config.get('QUOTA_MAX_VMS', { infer: true }),
      cpu_cores: own.cpu_cores ?? this.config.get('QUOTA_MAX_CPU_CORES', { infer: true }),
      ram_mb: own.ram_mb ?? this.config.get('QUOTA_MAX_RAM_MB', { infer: true }),
    };
  }

  /** A user's limits and what their live VMs use (`overrides`: when the caller has loaded the user already). */
  async usage(userId: string, overrides?: QuotaOverrides): Promise<QuotaUsageDto> {
    const [own, used] = await Promise.all([overrides ?? this.users.quotaOverrides(userId), this.vms.quotaUsed(userId)]);
    return { limits: this.limits(own), used };
  }

  /**
   * 403 quota.exceeded when one more VM of this size (or, for a resize, `vms: 0` and the cores and
   * RAM it adds) passes a limit. Called after the debit has locked the user's row, so concurrent
   * creates and resizes of one user are checked one after another and cannot overshoot together.
   * With no limit on any resource there is nothing to count.
   */
  async assertWithin(m: EntityManager, userId: string, vm: QuotaRequest): Promise<void> {
    const limits = this.limits(await this.users.quotaOverrides(userId, m));
    if (QUOTA_RESOURCES.every((r) => limits[r] === 0)) return;
    const used = await this.vms.quotaUsed(userId, m);
    const requested: QuotaLimits = { vms: vm.vms ?? 1, cpu_cores: vm.cpu_cores, ram_mb: vm.ram_mb };
    const resource = exceededResource(limits, used, requested);
    if (resource) {
      const what = requested.vms ? `This VM needs ${requested[resource]}` : `This resize needs ${requested[resource]} more`;
      throw VM_ERRORS.error('quota.exceeded', `${what} ${resource}; ${used[resource]} of your limit of ${limits[resource]} are in use`, {
        resource,
        requested: requested[resource],
        used: used[resource],
        limit: limits[resource],
      });
    }
  }
}
