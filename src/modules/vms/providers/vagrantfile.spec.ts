import { describe, it, expect } from '@jest/globals';
import { renderVagrantfile } from './vagrantfile';
import type { VmTarget } from './vm-provider.interface';

const vm: VmTarget = { id: 'a1b2', name: 'web-01', osType: 'ubuntu-22.04', ramMb: 2048, diskGb: 30, cpuCores: 2, sshPublicKeys: [] };

describe('renderVagrantfile', () => {
  it('renders box, hostname, memory, cpus and disk for libvirt', () => {
    const text = renderVagrantfile(vm, { box: 'generic/ubuntu2204', provider: 'libvirt' });
    expect(text).toContain("Vagrant.configure('2') do |config|");
    expect(text).toContain("config.vm.box = 'generic/ubuntu2204'");
    expect(text).toContain("config.vm.hostname = 'web-01'");
    expect(text).toContain('config.vm.provider :libvirt do |libvirt|');
    expect(text).toContain('libvirt.memory = 2048');
    expect(text).toContain('libvirt.cpus = 2');
    expect(text).toContain('libvirt.machine_virtual_size = 30');
    expect(text).not.toContain('virtualbox');
    expect(text).not.toContain('config.vm.disk');
    expect(text.trimEnd().endsWith('end')).toBe(true);
  });

  it('renders vb settings and a primary disk for virtualbox', () => {
    const text = renderVagrantfile(vm, { box: 'generic/debian12', provider: 'virtualbox' });
    expect(text).toContain("config.vm.box = 'generic/debian12'");
    expect(text).toContain('config.vm.provider :virtualbox do |vb|');
    expect(text).toContain('vb.memory = 2048');
    expect(text).toContain('vb.cpus = 2');
    expect(text).toContain("config.vm.disk :disk, size: '30GB', primary: true");
    expect(text).not.toContain('libvirt');
  });

  it('balances do/end blocks', () => {
    for (const provider of ['libvirt', 'virtualbox'] as const) {
      const text = renderVagrantfile(vm, { box: 'generic/rocky9', provider });
      const opens = text.split('\n').filter((l) => /\bdo \|\w+\|$/.test(l.trim())).length;
      const ends = text.split('\n').filter((l) => l.trim() === 'end').length;
      expect(opens).toBe(ends);
    }
  });

  it('accepts hostname labels at the edges', () => {
    for (const name of ['a', '0', 'a'.repeat(63), 'x-1-y', '123']) {
      expect(renderVagrantfile({ ...vm, name }, { box: 'generic/ubuntu2204', provider: 'libvirt' })).toContain(`'${name}'`);
    }
  });

  it.each([
    ["web'; system('rm -rf /'); '"],
    ['web"#{`id`}"'],
    ['Web'],
    ['-web'],
    ['web-'],
    ['web_01'],
    ['web.example'],
    ['web 01'],
    ['web\n01'],
    ['a'.repeat(64)],
    [''],
    ['wéb'],
  ])('refuses the name %j', (name) => {
    expect(() => renderVagrantfile({ ...vm, name }, { box: 'generic/ubuntu2204', provider: 'libvirt' })).toThrow(/hostname label/);
  });

  it.each([["generic/x'; exit 1; '"], ['generic'], ['a/b/c'], [''], ['generic/ubuntu 2204'], ['generic/#{x}']])(
    'refuses the box %j',
    (box) => {
      expect(() => renderVagrantfile(vm, { box, provider: 'libvirt' })).toThrow(/box/);
    },
  );

  it.each([
    ['ramMb', 1.5],
    ['ramMb', 0],
    ['ramMb', -1024],
    ['ramMb', Number.NaN],
    ['ramMb', '1024; system("id")'],
    ['cpuCores', 0],
    ['cpuCores', 2.5],
    ['cpuCores', Infinity],
    ['diskGb', 0],
    ['diskGb', 1e12],
    ['diskGb', '30'],
  ])('refuses %s = %p', (field, value) => {
    expect(() => renderVagrantfile({ ...vm, [field]: value } as unknown as VmTarget, { box: 'generic/ubuntu2204', provider: 'libvirt' })).toThrow(
      new RegExp(`${field} must be an integer`),
    );
  });

  it('refuses an unknown provider', () => {
    expect(() => renderVagrantfile(vm, { box: 'generic/ubuntu2204', provider: 'vmware' as 'libvirt' })).toThrow(/provider/);
  });
});
