import { Module } from '@nestjs/common';
import { CreditsRepository } from './credits.repository';
import { TypeOrmModule } from '@nestjs/typeorm';
import { EventsModule } from '../events/events.module';
import { CreditsGuard } from './credits.guard';
import { CreditsService } from './credits.service';
import { CreditTransaction } from './entities/credit-transaction.entity';

@Module({
  imports: [TypeOrmModule.forFeature([CreditTransaction]), EventsModule],
  providers: [CreditsRepository, CreditsService, CreditsGuard],
  exports: [CreditsService, CreditsGuard],
})
export class CreditsModule {}
