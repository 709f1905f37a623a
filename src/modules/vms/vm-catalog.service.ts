import { Inject, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { Env } from '../../config/env.validation';
import type { OsCatalog } from './os-catalog';
import { OS_CATALOG } from './vm-jobs';
import { VM_ERRORS } from './vms.errors';

/** What a VM may be made of: the OS catalog (OS_CATALOG) and the guest account (VM_SSH_USER). */
@Injectable()
export class VmCatalogService {
  /** The guest account a new VM's SSH keys are installed for. */
  readonly sshUser: string;

  constructor(
    @Inject(OS_CATALOG) private readonly catalog: OsCatalog,
    config: ConfigService<Env, true>,
  ) {
    this.sshUser = config.get('VM_SSH_USER', { infer: true });
  }

  osTypes(): string[] {
    return Object.keys(this.catalog).sort();
  }

  /** 400 vm.unknown_os_type, naming the choices, for an os_type the catalog lacks. */
  assertOsType(osType: string): void {
    if (!(osType in this.catalog)) {
      throw VM_ERRORS.error('vm.unknown_os_type', `Unknown os_type ${JSON.stringify(osType)}; choose one of ${this.osTypes().join(', ')}`, {
        allowed_os_types: this.osTypes(),
      });
    }
  }
}
