import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { EventsModule } from '../events/events.module';
import { User } from './entities/user.entity';
import { IdentityCache } from './identity-cache';
import { StreamRevocation } from './stream-revocation';
import { UsersRepository } from './users.repository';
import { UsersService } from './users.service';

@Module({
  imports: [TypeOrmModule.forFeature([User]), EventsModule],
  providers: [UsersRepository, UsersService, IdentityCache, StreamRevocation],
  exports: [UsersService],
})
export class UsersModule {}
