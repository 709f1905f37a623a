import { describe, expect, it } from '@jest/globals';
import { ConfigService } from '@nestjs/config';
import path from 'node:path';
import { validateEnv, type Env } from '../../../config/env.validation';
import { DEFAULT_OS_CATALOG } from '../os-catalog';
import { createVmProvider } from './provider.factory';
import { VagrantProvider } from './vagrant.provider';

const FAKE = path.resolve(process.cwd(), 'test/fakes/vagrant');
const timeouts = { up: 1, halt: 1, reload: 1, destroy: 1, query: 1 };

describe('createVmProvider', () => {
  it('hands the Vagrant host settings and the extra env to the provider', async () => {
    const config = new ConfigService<Env, true>(
      validateEnv({
        VM_PROVIDER: 'vagrant',
        VAGRANT_BIN: FAKE,
        VAGRANT_LIBVIRT_DRIVER: 'qemu',
        VAGRANT_LIBVIRT_CPU_MODE: 'custom',
        VAGRANT_LIBVIRT_CPU_MODEL: 'qemu64',
        VAGRANT_LIBVIRT_URI: 'qemu:///system',
        VAGRANT_BOOT_TIMEOUT_SECONDS: '900',
        VAGRANT_ENV: '{"VMAPI_NETNS":"vmapi-hv","VAGRANT_HOME":"/srv/vagrant.d"}',
      }) as unknown as Record<string, unknown>,
    );
    const provider = await createVmProvider(config, DEFAULT_OS_CATALOG, timeouts);
    expect(provider).toBeInstanceOf(VagrantProvider);
    const { options } = provider as VagrantProvider;
    expect(options.env).toEqual({ VMAPI_NETNS: 'vmapi-hv', VAGRANT_HOME: '/srv/vagrant.d' });
    expect(options.host).toEqual({
      libvirtDriver: 'qemu',
      libvirtCpuMode: 'custom',
      libvirtCpuModel: 'qemu64',
      libvirtUri: 'qemu:///system',
      bootTimeoutSeconds: 900,
    });
  });
});
