import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { JwtModule } from '@nestjs/jwt';
import { PassportModule } from '@nestjs/passport';
import { CreditsModule } from '../credits/credits.module';
import { EventsModule } from '../events/events.module';
import { UsersModule } from '../users/users.module';
import { AuthController } from './auth.controller';
import { PasswordController } from './password.controller';
import { AuthService } from './auth.service';
import { JwtAuthGuard } from './jwt-auth.guard';
import { LocalStrategy } from './local.strategy';
import { JwtSecret, JwtSecretModule } from './jwt-secret';
import { RolesGuard } from './roles.guard';
import { CallerRateLimits } from './caller-rate-limits';
import { ScopesGuard } from './scopes.guard';
import { TokensModule } from '../tokens/tokens.module';

@Module({
  imports: [
    UsersModule,
    CreditsModule,
    EventsModule,
    TokensModule,
    JwtSecretModule,
    PassportModule,
    JwtModule.registerAsync({
      imports: [JwtSecretModule],
      inject: [JwtSecret],
      useFactory: (secret: JwtSecret) => ({ secret: secret.value, signOptions: { algorithm: 'HS256' } }),
    }),
  ],
  controllers: [AuthController, PasswordController],
  providers: [
    AuthService,
    LocalStrategy,
    CallerRateLimits,
    // Order matters: authenticate first, then check roles, then an API token's scopes.
    { provide: APP_GUARD, useClass: JwtAuthGuard },
    { provide: APP_GUARD, useClass: RolesGuard },
    { provide: APP_GUARD, useClass: ScopesGuard },
  ],
})
export class AuthModule {}
