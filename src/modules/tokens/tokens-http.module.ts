import { Module } from '@nestjs/common';
import { TokensController } from './tokens.controller';
import { TokensModule } from './tokens.module';

/** Tokens's routes on top of its service module (ApiModule only; the auth guard imports TokensModule). */
@Module({ imports: [TokensModule], controllers: [TokensController] })
export class TokensHttpModule {}
