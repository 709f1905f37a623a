import { Module } from '@nestjs/common';
import { CreditsModule } from '../credits/credits.module';
import { EventsModule } from '../events/events.module';
import { UsersModule } from '../users/users.module';
import { VmsModule } from '../vms/vms.module';
import { AdminController } from './admin.controller';

@Module({
  imports: [UsersModule, VmsModule, CreditsModule, EventsModule],
  controllers: [AdminController],
})
export class AdminHttpModule {}
