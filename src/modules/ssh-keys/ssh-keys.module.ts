import { Module } from '@nestjs/common';
import { SshKeysRepository } from './ssh-keys.repository';
import { TypeOrmModule } from '@nestjs/typeorm';
import { EventsModule } from '../events/events.module';
import { SshKey } from './entities/ssh-key.entity';
import { SshKeysService } from './ssh-keys.service';

@Module({
  imports: [TypeOrmModule.forFeature([SshKey]), EventsModule],
  providers: [SshKeysRepository, SshKeysService],
  exports: [SshKeysService],
})
export class SshKeysModule {}
