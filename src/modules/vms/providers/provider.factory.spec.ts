import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { validateEnv, type Env } from '../../../config/env.validation';
import { DEFAULT_OS_CATALOG } from '../os-catalog';
import { createVmProvider, machineProbe, type MachineProbe } from './provider.factory';
import { SimulatorProvider } from './simulator.provider';
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

describe('VM_PROVIDER=auto', () => {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'provider-auto-'));
  const configOf = (env: Record<string, string>) =>
    new ConfigService<Env, true>(validateEnv({ VM_PROVIDER: 'auto', VAGRANT_BIN: FAKE, SIMULATOR_STATE_DIR: stateDir, ...env }));
  const boxes = Object.values(DEFAULT_OS_CATALOG).map((name) => ({ name, provider: 'libvirt' }));
  const yes = () => Promise.resolve(true);
  const no = () => Promise.resolve(false);
  const able: MachineProbe = { vagrant: yes, boxes: () => Promise.resolve(boxes), libvirt: yes, kvm: yes };
  /** The provider chosen and the one line logged about the choice. */
  async function choose(env: Record<string, string>, probe?: MachineProbe) {
    const log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    log.mockClear();
    const config = configOf(env);
    const provider = await createVmProvider(config, DEFAULT_OS_CATALOG, timeouts, probe ?? machineProbe(FAKE));
    const lines = log.mock.calls.map((c) => String(c[0])).filter((l) => l.startsWith('VM_PROVIDER=auto'));
    return { provider, lines };
  }
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('chooses the simulator on a machine with vagrant but no box, saying why in one line', async () => {
    // The fake vagrant answers --version and lists no box (FAKE_VAGRANT_BOXES unset).
    const { provider, lines } = await choose({ VAGRANT_LIBVIRT_DRIVER: 'qemu' });
    expect(provider).toBeInstanceOf(SimulatorProvider);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^VM_PROVIDER=auto: using the simulator: no libvirt box generic\/debian12, generic\/rocky9, .*\(vagrant box add\)/,
    );
  });

  it('chooses Vagrant only when the boxes are there, libvirt answers and the driver can run', async () => {
    const vagrant = await choose({}, able);
    expect(vagrant.provider).toBeInstanceOf(VagrantProvider);
    expect(vagrant.lines).toEqual([expect.stringMatching(/^VM_PROVIDER=auto: using Vagrant/)]);
    // Software emulation needs no /dev/kvm.
    expect((await choose({ VAGRANT_LIBVIRT_DRIVER: 'qemu' }, { ...able, kvm: no })).provider).toBeInstanceOf(VagrantProvider);
    const cases: [Partial<MachineProbe>, RegExp][] = [
      [{ kvm: no }, /no usable \/dev\/kvm \(set VAGRANT_LIBVIRT_DRIVER=qemu/],
      [{ libvirt: no }, /libvirt does not answer at qemu:\/\/\/system/],
      [{ boxes: () => Promise.resolve(boxes.slice(1)) }, /no libvirt box generic\/ubuntu2204 /],
      [{ boxes: () => Promise.resolve(boxes.map((b) => ({ ...b, provider: 'virtualbox' }))) }, /no libvirt box generic\/debian12/],
      [{ vagrant: no }, /does not answer/],
    ];
    for (const [broken, why] of cases) {
      const { provider, lines } = await choose({}, { ...able, ...broken });
      expect(provider).toBeInstanceOf(SimulatorProvider);
      expect(lines).toEqual([expect.stringMatching(why)]);
    }
  });
});
