import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { Env } from '../../config/env.validation';
import { CreditsModule } from '../credits/credits.module';
import { EventsModule } from '../events/events.module';
import { SshKeysModule } from '../ssh-keys/ssh-keys.module';
import { HostsModule } from '../hosts/hosts.module';
import { UsersModule } from '../users/users.module';
import { Vm } from './entities/vm.entity';
import { SnapshotOutcomes } from './snapshots/snapshot-outcomes';
import { SnapshotsRepository } from './snapshots/snapshots.repository';
import { SnapshotsService } from './snapshots/snapshots.service';
import { buildOsCatalog } from './os-catalog';
import { createVmProvider } from './providers/provider.factory';
import { VM_PROVIDER } from './providers/vm-provider.interface';
import { OPERATION_TIMEOUTS, OperationTimeouts, OS_CATALOG } from './vm-jobs';
import { VmCreatePrecheck } from './vm-create.precheck';
import { VmReconciler } from './vms.reconciler';
import { VmActionsService } from './vm-actions.service';
import { VmCatalogService } from './vm-catalog.service';
import { VmJobsService } from './vm-jobs.service';
import { VmQuotasService } from './vm-quotas.service';
import { VmTransitionsService } from './vm-transitions.service';
import { VmsRepository } from './vms.repository';
import { VmsService } from './vms.service';
import { VmWorker } from './vms.worker';

@Module({
  imports: [TypeOrmModule.forFeature([Vm]), CreditsModule, EventsModule, UsersModule, SshKeysModule, HostsModule],
  providers: [
    VmsRepository,
    SnapshotsRepository,
    VmCatalogService,
    VmQuotasService,
    VmJobsService,
    VmTransitionsService,
    VmActionsService,
    VmsService,
    VmCreatePrecheck,
    SnapshotsService,
    SnapshotOutcomes,
    VmWorker,
    VmReconciler,
    {
      provide: OS_CATALOG,
      inject: [ConfigService],
      useFactory: (config: ConfigService<Env, true>) => buildOsCatalog(config.get('OS_CATALOG', { infer: true })),
    },
    {
      provide: OPERATION_TIMEOUTS,
      inject: [ConfigService],
      useFactory: (config: ConfigService<Env, true>): OperationTimeouts => ({
        up: config.get('TIMEOUT_UP_SECONDS', { infer: true }),
        halt: config.get('TIMEOUT_HALT_SECONDS', { infer: true }),
        reload: config.get('TIMEOUT_RELOAD_SECONDS', { infer: true }),
        destroy: config.get('TIMEOUT_DESTROY_SECONDS', { infer: true }),
        query: config.get('TIMEOUT_QUERY_SECONDS', { infer: true }),
        snapshot: config.get('TIMEOUT_SNAPSHOT_SECONDS', { infer: true }),
      }),
    },
    {
      provide: VM_PROVIDER,
      inject: [ConfigService, OS_CATALOG, OPERATION_TIMEOUTS],
      useFactory: createVmProvider,
    },
  ],
  exports: [VmsService, SnapshotsService, VM_PROVIDER],
})
export class VmsModule {}
