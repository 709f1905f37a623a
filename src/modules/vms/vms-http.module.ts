import { Module } from '@nestjs/common';
import { CreditsModule } from '../credits/credits.module';
import { SnapshotsController } from './snapshots/snapshots.controller';
import { VmsController } from './vms.controller';
import { VmsModule } from './vms.module';

/** Vms's routes on top of its service module (ApiModule only; the worker imports VmsModule). CreditsModule: the create route's CreditsGuard. */
@Module({ imports: [VmsModule, CreditsModule], controllers: [VmsController, SnapshotsController] })
export class VmsHttpModule {}
