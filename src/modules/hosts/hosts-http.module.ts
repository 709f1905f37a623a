import { Module } from '@nestjs/common';
import { HostsController } from './hosts.controller';
import { HostsModule } from './hosts.module';

/** Hosts's routes on top of its service module (ApiModule only; the worker imports HostsModule). */
@Module({ imports: [HostsModule], controllers: [HostsController] })
export class HostsHttpModule {}
