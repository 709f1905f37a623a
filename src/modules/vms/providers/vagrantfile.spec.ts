import { describe, it, expect } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseUserDataResult, renderVagrantfile, USER_DATA_FILE, USER_DATA_RESULT_MARKER, type VagrantHostSettings } from './vagrantfile';
import type { VmTarget } from './vm-provider.interface';

const vm: VmTarget = {
  id: 'a1b2',
  name: 'web-01',
  osType: 'ubuntu-22.04',
  ramMb: 2048,
  diskGb: 30,
  cpuCores: 2,
  sshUser: 'vmuser',
  sshPublicKeys: [],
};
const ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ';
const RSA =
  'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7vbqajDhA+17ZAfYdo0IcodhZRsjxkF8y0Hq5dsoZ/zWYkvkhgiuYZfrnZ8EtTf6oAGmqQy0Hh2nDsIfOQKfWZWoXH8f0tO8+5zGmiVcVsDiqrFwW7zlIWNxZwLm0iP7Jp/i8e0LArhBvm9jIYyXz+ivg0WQv/3f+1cqz8FkOQ3Ci6ufmeDk9nNDSu+oH8pPB8W0e1nT+AfT9szIKjVFXUbAk9BAJQOPXGWRn0zStkdUXfSqqAbrPBHYLBLvKYfUAXNRvPyk+ok9UbCK5RdUbS8WaNL8WI6SrmYdP6WuHZLg1vuRPJJU1E1O5VHexlLVYOzMCCCI6G82Lp6pUeGSj';

/** The provisioner's base64 literal, decoded: exactly the text that reaches the guest's authorized_keys. */
function installedKeys(text: string): string {
  const match = /^ {4}keys_b64='([A-Za-z0-9+/=]*)'$/m.exec(text);
  if (!match) throw new Error('no keys_b64 line');
  return Buffer.from(match[1]!, 'base64').toString('utf8');
}

/** The provisioner's shell script: the lines of its heredoc. */
function provisionerScript(text: string): string {
  const match = /inline: <<~'SHELL'\n([\s\S]*?)\n {2}SHELL\n/.exec(text);
  if (!match) throw new Error('no provisioner heredoc');
  return match[1]!;
}

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
    // The domain's name is derived from the VM id alone: a1b2_default (see libvirtDomainName).
    expect(text).toContain("libvirt.default_prefix = 'a1b2_'");
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
    expect(() =>
      renderVagrantfile({ ...vm, [field]: value } as unknown as VmTarget, { box: 'generic/ubuntu2204', provider: 'libvirt' }),
    ).toThrow(new RegExp(`${field} must be an integer`));
  });

  it('creates the login user with sudo and installs the keys in a first-boot provisioner', () => {
    const text = renderVagrantfile(
      { ...vm, sshPublicKeys: [ED25519 + ' alice@laptop', RSA] },
      { box: 'generic/debian12', provider: 'libvirt' },
    );
    expect(text).toContain("config.vm.provision 'login-user', type: 'shell', privileged: true, inline: <<~'SHELL'");
    const script = provisionerScript(text);
    expect(script).toContain('    user=vmuser');
    expect(script).toContain('useradd --create-home --user-group --shell /bin/bash "$user"');
    expect(script).toContain('NOPASSWD:ALL');
    expect(installedKeys(text)).toBe(`${ED25519} alice@laptop\n${RSA}\n`);
    // Valid shell (the heredoc interpolates nothing, so this is the script the guest runs).
    expect(spawnSync('bash', ['-n'], { input: script.replace(/^ {4}/gm, '') }).status).toBe(0);
  });

  it("sets the guest's hostname on every up (run: 'always'), changing it and /etc/hosts only when it differs", () => {
    const text = renderVagrantfile({ ...vm, name: 'web-02' }, { box: 'generic/debian12', provider: 'libvirt' });
    const match =
      /config\.vm\.provision 'hostname', type: 'shell', privileged: true, run: 'always', inline: <<~'SHELL'\n([\s\S]*?)\n {2}SHELL\n/.exec(
        text,
      );
    if (!match) throw new Error('no hostname provisioner');
    expect(text.indexOf("'hostname'")).toBeGreaterThan(text.indexOf("'login-user'"));
    const root = mkdtempSync(path.join(tmpdir(), 'hostname-'));
    try {
      // The script as the guest runs it, with /etc in a scratch directory and hostname(1)/hostnamectl faked on PATH.
      const bin = path.join(root, 'bin');
      mkdirSync(bin);
      const state = path.join(root, 'current');
      writeFileSync(path.join(bin, 'hostname'), `#!/bin/sh\nif [ $# -gt 0 ]; then printf '%s' "$1" > ${state}; else cat ${state}; fi\n`, {
        mode: 0o755,
      });
      writeFileSync(path.join(bin, 'hostnamectl'), `#!/bin/sh\nprintf '%s' "$2" > ${state}; echo "$*" >> ${root}/calls\n`, { mode: 0o755 });
      const script = match[1]!.replace(/^ {4}/gm, '').replaceAll('/etc/', `${root}/`);
      const run = () =>
        spawnSync('bash', ['-c', script], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
      writeFileSync(state, 'web-01');
      writeFileSync(path.join(root, 'hosts'), '127.0.0.1 localhost\n127.0.1.1 web-01\n::1 localhost\n');
      expect(run().status).toBe(0);
      expect(readFileSync(state, 'utf8')).toBe('web-02');
      expect(readFileSync(path.join(root, 'hosts'), 'utf8')).toBe('127.0.0.1 localhost\n127.0.1.1 web-02\n::1 localhost\n');
      // Already named so: nothing is changed.
      expect(run().status).toBe(0);
      expect(readFileSync(path.join(root, 'calls'), 'utf8')).toBe('set-hostname web-02\n');
      // No 127.0.1.1 line yet: one is added.
      writeFileSync(state, 'old');
      writeFileSync(path.join(root, 'hosts'), '127.0.0.1 localhost\n');
      expect(run().status).toBe(0);
      expect(readFileSync(path.join(root, 'hosts'), 'utf8')).toBe('127.0.0.1 localhost\n127.0.1.1 web-02\n');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('still creates the login user when the VM has no keys', () => {
    const text = renderVagrantfile({ ...vm, sshUser: 'ops' }, { box: 'generic/debian12', provider: 'libvirt' });
    expect(provisionerScript(text)).toContain('    user=ops');
    expect(installedKeys(text)).toBe('');
  });

  it('a hostile key comment reaches the guest only as data', () => {
    const comment = `x'; touch /tmp/pwned; '$(touch /tmp/pwned)\`id\`#{File.write('/tmp/pwned', '')}"`;
    const text = renderVagrantfile({ ...vm, sshPublicKeys: [`${ED25519} ${comment}`] }, { box: 'generic/debian12', provider: 'libvirt' });
    // The comment appears nowhere in the Vagrantfile: only the key's base64 form, decoded in the guest.
    expect(text).not.toContain('pwned');
    expect(installedKeys(text)).toBe(`${ED25519} ${comment}\n`);
  });

  it('a key comment cannot end the heredoc early', () => {
    const text = renderVagrantfile({ ...vm, sshPublicKeys: [`${ED25519} SHELL`] }, { box: 'generic/debian12', provider: 'libvirt' });
    // One terminator per heredoc (login user, hostname): the comment adds none.
    expect(text.split('\n').filter((l) => l.trim() === 'SHELL')).toHaveLength(text.split("<<~'SHELL'").length - 1);
    expect(text.split("<<~'SHELL'")).toHaveLength(3);
    expect(installedKeys(text)).toBe(`${ED25519} SHELL\n`);
  });

  it.each([
    ['a second line', `${ED25519} a\nssh-ed25519 AAAA evil`],
    ['an options prefix', `command="/bin/sh" ${ED25519}`],
    ['a carriage return', `${ED25519} a\rb`],
    ['a NUL', `${ED25519} a\u0000b`],
    ['no key material', 'ssh-ed25519'],
    ['not a key', 'hello world'],
    ['a non-string', 42],
  ])('refuses a key with %s', (_label, key) => {
    expect(() =>
      renderVagrantfile({ ...vm, sshPublicKeys: [ED25519, key as string] }, { box: 'generic/debian12', provider: 'libvirt' }),
    ).toThrow(/SSH public key #2 is not one OpenSSH public key line/);
  });

  it.each([['root; rm -rf /'], ['Alice'], ['$(id)'], [''], ['a'.repeat(33)]])('refuses the login user %j', (sshUser) => {
    expect(() => renderVagrantfile({ ...vm, sshUser }, { box: 'generic/debian12', provider: 'libvirt' })).toThrow(/login user/);
  });

  it('renders the host settings: driver, CPU, URI, boot timeout (libvirt ones only for libvirt)', () => {
    const host = {
      libvirtDriver: 'qemu',
      libvirtCpuMode: 'custom',
      libvirtCpuModel: 'qemu64',
      libvirtUri: 'qemu+ssh://root@hv1/system',
      bootTimeoutSeconds: 900,
    } as const;
    const libvirt = renderVagrantfile(vm, { box: 'generic/debian12', provider: 'libvirt', host });
    expect(libvirt).toContain('  config.vm.boot_timeout = 900');
    expect(libvirt).toContain("    libvirt.driver = 'qemu'");
    expect(libvirt).toContain("    libvirt.cpu_mode = 'custom'");
    expect(libvirt).toContain("    libvirt.cpu_model = 'qemu64'");
    expect(libvirt).toContain("    libvirt.uri = 'qemu+ssh://root@hv1/system'");
    const vbox = renderVagrantfile(vm, { box: 'generic/debian12', provider: 'virtualbox', host });
    expect(vbox).toContain('  config.vm.boot_timeout = 900');
    expect(vbox).not.toContain('libvirt');
    // Unset settings leave Vagrant's and vagrant-libvirt's defaults alone.
    const plain = renderVagrantfile(vm, { box: 'generic/debian12', provider: 'libvirt' });
    expect(plain).not.toMatch(/boot_timeout|driver|cpu_mode|cpu_model|libvirt\.uri/);
  });

  it.each([
    [{ libvirtDriver: 'xen' }, /libvirt driver/],
    [{ libvirtCpuMode: 'maximum' }, /CPU mode/],
    [{ libvirtCpuModel: "qemu64'; system('id'); '" }, /CPU model/],
    [{ libvirtUri: "qemu:///system'; system('id'); '" }, /libvirt URI/],
    [{ libvirtUri: 'qemu:///sys tem' }, /libvirt URI/],
    [{ bootTimeoutSeconds: 0 }, /bootTimeoutSeconds must be an integer/],
    [{ bootTimeoutSeconds: 1.5 }, /bootTimeoutSeconds must be an integer/],
  ])('refuses the host setting %j', (host, message) => {
    expect(() => renderVagrantfile(vm, { box: 'generic/debian12', provider: 'libvirt', host: host as VagrantHostSettings })).toThrow(
      message,
    );
  });

  it('refuses an unknown provider', () => {
    expect(() => renderVagrantfile(vm, { box: 'generic/ubuntu2204', provider: 'vmware' as 'libvirt' })).toThrow(/provider/);
  });

  it.each(["a'b", 'a.b', '../x', '', 'a b'])('refuses the VM id %j (it becomes the domain name)', (id) => {
    expect(() => renderVagrantfile({ ...vm, id }, { box: 'generic/ubuntu2204', provider: 'libvirt' })).toThrow(/VM id/);
  });
});

describe('renderVagrantfile: first-boot user data', () => {
  const SCRIPT = "#!/bin/sh\necho 'SHELL' ; echo done > /root/marker\n";

  /** The user-data provisioner's heredoc (the second one, after the login user's). */
  function userDataScript(text: string): string {
    const match = /'user-data', type: 'shell', privileged: true, inline: <<~'SHELL'\n([\s\S]*?)\n {2}SHELL\n/.exec(text);
    if (!match) throw new Error('no user-data heredoc');
    return match[1]!.replace(/^ {4}/gm, '');
  }

  it('adds no user-data provisioner to a VM without user data', () => {
    for (const userData of [undefined, null]) {
      const text = renderVagrantfile({ ...vm, userData }, { box: 'generic/ubuntu2204', provider: 'libvirt' });
      expect(text).not.toContain('user-data');
    }
  });

  it('uploads the script from the file beside the Vagrantfile and runs it as root after the login user, the script never in the Vagrantfile', () => {
    const text = renderVagrantfile(
      { ...vm, userData: SCRIPT, sshPublicKeys: [ED25519] },
      { box: 'generic/ubuntu2204', provider: 'libvirt' },
    );
    expect(text).toContain(
      `config.vm.provision 'user-data-upload', type: 'file', source: '${USER_DATA_FILE}', destination: '/tmp/vm-platform-user-data'`,
    );
    expect(text).toContain("config.vm.provision 'user-data', type: 'shell', privileged: true");
    const order = ['login-user', 'user-data-upload', "'user-data',"].map((name) => text.indexOf(name));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(text).not.toContain('/root/marker');
    expect(spawnSync('bash', ['-n'], { input: userDataScript(text) }).status).toBe(0);
    const opens = text.split('\n').filter((l) => /\bdo \|\w+\|$/.test(l.trim())).length;
    expect(text.split('\n').filter((l) => l.trim() === 'end').length).toBe(opens);
  });

  it('the wrapper runs the script, keeps the exit code and the last 20 lines, and itself always succeeds', () => {
    const text = renderVagrantfile({ ...vm, userData: SCRIPT }, { box: 'generic/ubuntu2204', provider: 'libvirt' });
    const root = mkdtempSync(path.join(tmpdir(), 'user-data-'));
    try {
      // The wrapper as the guest runs it, its two paths moved into a scratch directory.
      const wrapper = userDataScript(text)
        .replaceAll('/var/lib/vm-platform', path.join(root, 'state'))
        .replaceAll('/tmp/vm-platform-user-data', path.join(root, 'upload'));
      const run = (script: string) => {
        writeFileSync(path.join(root, 'upload'), script);
        const res = spawnSync('bash', ['-c', wrapper], { encoding: 'utf8' });
        expect(res.status).toBe(0);
        return parseUserDataResult(`1700000000,default,ui,detail,${res.stdout.trim()}`);
      };
      const lines = Array.from({ length: 30 }, (_, i) => `echo line-${i + 1}`).join('\n');
      expect(run(`#!/bin/sh\n${lines}\necho oops >&2\nexit 7\n`)).toEqual({
        exitCode: 7,
        outputTail: `${Array.from({ length: 19 }, (_, i) => `line-${i + 12}`).join('\n')}\noops\n`,
      });
      expect(run('#!/bin/sh\necho fine, thanks\n')).toEqual({ exitCode: 0, outputTail: 'fine, thanks\n' });
      expect(statSync(path.join(root, 'state')).mode & 0o777).toBe(0o700);
      expect(existsSync(path.join(root, 'upload'))).toBe(false);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('parses the marker from machine-readable output; none when the provisioner did not run', () => {
    const tail = Buffer.from('a,b\nc').toString('base64');
    expect(
      parseUserDataResult(
        `1,default,ui,info,==> default: Running provisioner: user-data (shell)...\n2,default,ui,detail,    default: ${USER_DATA_RESULT_MARKER}1:${tail}\n`,
      ),
    ).toEqual({
      exitCode: 1,
      outputTail: 'a,b\nc',
    });
    expect(parseUserDataResult('1,default,ui,info,Machine already provisioned.\n')).toBeNull();
  });
});
