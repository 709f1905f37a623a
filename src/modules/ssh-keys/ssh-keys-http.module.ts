import { Module } from '@nestjs/common';
import { SshKeysController } from './ssh-keys.controller';
import { SshKeysModule } from './ssh-keys.module';

/** SshKeys's routes on top of its service module (ApiModule only; the worker imports SshKeysModule). */
@Module({ imports: [SshKeysModule], controllers: [SshKeysController] })
export class SshKeysHttpModule {}
