import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { EventsModule } from '../events/events.module';
import { ApiToken } from './entities/api-token.entity';
import { TokensRepository } from './tokens.repository';
import { TokensService } from './tokens.service';

@Module({
  imports: [TypeOrmModule.forFeature([ApiToken]), EventsModule],
  providers: [TokensRepository, TokensService],
  exports: [TokensService],
})
export class TokensModule {}
