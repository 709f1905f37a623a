import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { Env } from '../../config/env.validation';
import { SimulatorProvider } from './providers/simulator.provider';
import { VM_PROVIDER } from './providers/vm-provider.interface';

@Module({
  providers: [
    {
      provide: VM_PROVIDER,
      inject: [ConfigService],
      useFactory: (config: ConfigService<Env, true>) =>
        new SimulatorProvider({
          delayMs: config.get('SIMULATOR_DELAY_MS', { infer: true }),
          failureRate: config.get('SIMULATOR_FAILURE_RATE', { infer: true }),
        }),
    },
  ],
  exports: [VM_PROVIDER],
})
export class VmsModule {}
