import { Module } from '@nestjs/common';
import { CreditsController } from './credits.controller';
import { CreditsModule } from './credits.module';

/** Credits's routes on top of its service module (ApiModule only; the worker imports CreditsModule). */
@Module({ imports: [CreditsModule], controllers: [CreditsController] })
export class CreditsHttpModule {}
