import { Module } from '@nestjs/common';
import { UsersController } from './users.controller';
import { UsersModule } from './users.module';

/** Users's routes on top of its service module (ApiModule only; the worker imports UsersModule). */
@Module({ imports: [UsersModule], controllers: [UsersController] })
export class UsersHttpModule {}
