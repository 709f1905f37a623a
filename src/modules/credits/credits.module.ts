import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { EventsModule } from '../events/events.module';
import { CreditsGuard } from './credits.guard';
import { CreditsService } from './credits.service';
import { CreditTransaction } from './entities/credit-transaction.entity';

@Module({
  imports: [TypeOrmModule.forFeature([CreditTransaction]), EventsModule],
  providers: [CreditsService, CreditsGuard],
  exports: [CreditsService, CreditsGuard],
})
export class CreditsModule {}
