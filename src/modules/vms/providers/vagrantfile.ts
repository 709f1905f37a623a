import type { VmTarget } from './vm-provider.interface';

export type VagrantBackend = 'libvirt' | 'virtualbox';

export type LibvirtDriver = 'kvm' | 'qemu';
export type LibvirtCpuMode = 'host-model' | 'host-passthrough' | 'custom';
export const LIBVIRT_DRIVERS: readonly LibvirtDriver[] = ['kvm', 'qemu'];
export const LIBVIRT_CPU_MODES: readonly LibvirtCpuMode[] = ['host-model', 'host-passthrough', 'custom'];
/** A libvirt CPU model name (`qemu64`, `Haswell-noTSX`, `EPYC-Rome`). */
export const CPU_MODEL_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** A libvirt connection URI (`qemu:///system`, `qemu+ssh://host/system`): no spaces, quotes or backslashes. */
export const LIBVIRT_URI_RE = /^[a-z][a-z0-9+]*:\/\/[^\s'"\\]*$/;
/** A POSIX login name, as VM_SSH_USER accepts them. */
export const LOGIN_USER_RE = /^[a-z_][a-z0-9_-]{0,31}$/;

/** How this host runs machines; unset fields keep Vagrant's or vagrant-libvirt's own default. */
export interface VagrantHostSettings {
  /** libvirt: `kvm` (hardware virtualization) or `qemu` (software emulation, TCG). */
  libvirtDriver?: LibvirtDriver;
  libvirtCpuMode?: LibvirtCpuMode;
  /** libvirt, with cpu mode `custom`. */
  libvirtCpuModel?: string;
  libvirtUri?: string;
  /** How long Vagrant waits for the guest to boot and answer SSH (config.vm.boot_timeout). */
  bootTimeoutSeconds?: number;
}

export interface VagrantfileOptions {
  /** Box from the OS catalog, `owner/name`. */
  box: string;
  provider: VagrantBackend;
  host?: VagrantHostSettings;
}

/** A hostname label (RFC 1123, lower case): what VM names must be to become the guest's hostname. */
export const HOSTNAME_LABEL_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** VM ids become directory and domain names: no separators, no dots, nothing to escape. */
export const VM_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/**
 * The libvirt domain of a VM's machine: `<vm id>_default`. vagrant-libvirt names a domain
 * `<default_prefix><machine name>`; the Vagrantfile sets the prefix to `<vm id>_` (what it would derive
 * from the VM's directory anyway), so the watchers find every VM in one `virsh domstats` by name.
 */
export function libvirtDomainName(vmId: string): string {
  return `${vmId}_default`;
}

/** A Vagrant Cloud box name, as the OS catalog accepts them. */
export const BOX_NAME_RE = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

/** Sanity bounds only; the API's own validation is stricter. */
const LIMITS = {
  ramMb: { min: 1, max: 4 * 1024 * 1024 },
  cpuCores: { min: 1, max: 1024 },
  diskGb: { min: 1, max: 65536 },
  bootTimeoutSeconds: { min: 1, max: 24 * 3600 },
} as const;

/**
 * One OpenSSH public key line (`<type> <base64> [comment]`). The key API parses keys properly; this is
 * the provider's own guard that a value can only ever become one authorized_keys line: no control
 * characters (a newline would add a line of its own choosing, options such as `command=` included).
 */
const PUBLIC_KEY_LINE_RE = /^(ssh|ecdsa|sk)-[A-Za-z0-9@.-]+ [A-Za-z0-9+/]+={0,3}( [^\x00-\x1f\x7f]*)?$/;
const MAX_KEY_LENGTH = 16384;

function integer(field: keyof typeof LIMITS, value: unknown): number {
  const { min, max } = LIMITS[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new Error(`Vagrantfile: ${field} must be an integer between ${min} and ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** A single-quoted Ruby literal (no interpolation). Values are validated before; this is belt and braces. */
function rubyString(value: string): string {
  return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

function publicKeys(keys: unknown): string[] {
  if (!Array.isArray(keys)) throw new Error('Vagrantfile: sshPublicKeys must be an array of OpenSSH public key lines');
  return keys.map((key: unknown, i) => {
    if (typeof key !== 'string' || key.length > MAX_KEY_LENGTH || !PUBLIC_KEY_LINE_RE.test(key)) {
      throw new Error(`Vagrantfile: SSH public key #${i + 1} is not one OpenSSH public key line`);
    }
    return key;
  });
}

/**
 * Lines that set the host settings: each value checked against its own allow-list or pattern, so a
 * setting can only ever be a Ruby literal of the expected shape.
 */
function hostSettings(host: VagrantHostSettings, provider: VagrantBackend): { config: string[]; libvirt: string[] } {
  const config: string[] = [];
  const libvirt: string[] = [];
  if (host.bootTimeoutSeconds !== undefined)
    config.push(`  config.vm.boot_timeout = ${integer('bootTimeoutSeconds', host.bootTimeoutSeconds)}`);
  if (provider !== 'libvirt') return { config, libvirt };
  if (host.libvirtUri !== undefined) {
    if (typeof host.libvirtUri !== 'string' || !LIBVIRT_URI_RE.test(host.libvirtUri)) {
      throw new Error(`Vagrantfile: libvirt URI ${JSON.stringify(host.libvirtUri)} is not a plain URI`);
    }
    libvirt.push(`    libvirt.uri = ${rubyString(host.libvirtUri)}`);
  }
  if (host.libvirtDriver !== undefined) {
    if (!LIBVIRT_DRIVERS.includes(host.libvirtDriver))
      throw new Error(`Vagrantfile: libvirt driver ${JSON.stringify(host.libvirtDriver)} is not kvm or qemu`);
    libvirt.push(`    libvirt.driver = ${rubyString(host.libvirtDriver)}`);
  }
  if (host.libvirtCpuMode !== undefined) {
    if (!LIBVIRT_CPU_MODES.includes(host.libvirtCpuMode))
      throw new Error(`Vagrantfile: CPU mode ${JSON.stringify(host.libvirtCpuMode)} is not one of ${LIBVIRT_CPU_MODES.join(', ')}`);
    libvirt.push(`    libvirt.cpu_mode = ${rubyString(host.libvirtCpuMode)}`);
  }
  if (host.libvirtCpuModel !== undefined) {
    if (typeof host.libvirtCpuModel !== 'string' || !CPU_MODEL_RE.test(host.libvirtCpuModel)) {
      throw new Error(`Vagrantfile: CPU model ${JSON.stringify(host.libvirtCpuModel)} is not a CPU model name`);
    }
    libvirt.push(`    libvirt.cpu_model = ${rubyString(host.libvirtCpuModel)}`);
  }
  return { config, libvirt };
}

/**
 * The first-boot provisioner: creates the login user (sudo without password) and adds the VM's keys to
 * its authorized_keys. Runs once, after Vagrant reached the guest over SSH, so `up` returns only when
 * the machine is usable. The keys come from users: they travel as one base64 literal (alphabet
 * A-Za-z0-9+/=, inert in Ruby and shell alike) inside a heredoc that interpolates nothing, and are
 * decoded in the guest; the user name matched LOGIN_USER_RE. Keys are appended when missing rather
 * than replacing the file, so a login user that is also Vagrant's own keeps Vagrant's key.
 */
function loginUserProvisioner(user: string, keys: string[]): string[] {
  if (typeof user !== 'string' || !LOGIN_USER_RE.test(user))
    throw new Error(`Vagrantfile: login user ${JSON.stringify(user)} is not a POSIX user name`);
  const encoded = Buffer.from(keys.map((k) => `${k}\n`).join(''), 'utf8').toString('base64');
  return [
    "  config.vm.provision 'login-user', type: 'shell', privileged: true, inline: <<~'SHELL'",
    '    set -eu',
    `    user=${user}`,
    `    keys_b64='${encoded}'`,
    '    id -u "$user" >/dev/null 2>&1 || useradd --create-home --user-group --shell /bin/bash "$user"',
    '    printf \'%s ALL=(ALL) NOPASSWD:ALL\\n\' "$user" > /etc/sudoers.d/90-vm-login-user',
    '    chmod 0440 /etc/sudoers.d/90-vm-login-user',
    '    home=$(getent passwd "$user" | cut -d: -f6)',
    '    group=$(id -gn "$user")',
    '    install -d -m 0700 -o "$user" -g "$group" "$home/.ssh"',
    '    auth="$home/.ssh/authorized_keys"',
    '    touch "$auth"',
    '    printf \'%s\' "$keys_b64" | base64 -d | while IFS= read -r key; do',
    '      [ -z "$key" ] || grep -qxF -- "$key" "$auth" || printf \'%s\\n\' "$key" >> "$auth"',
    '    done',
    '    chown "$user:$group" "$auth"',
    '    chmod 0600 "$auth"',
    '  SHELL',
  ];
}

/**
 * The guest's hostname on every up, not only the first: vagrant-libvirt applies `config.vm.hostname`
 * only when it creates the domain, so a VM renamed while it existed would keep its old name. A shell
 * provisioner with `run: 'always'` runs on each `vagrant up`/`reload` and changes the name (and the
 * 127.0.1.1 line of /etc/hosts) only when it differs. `name` is a checked hostname label.
 */
function hostnameProvisioner(name: string): string[] {
  return [
    "  config.vm.provision 'hostname', type: 'shell', privileged: true, run: 'always', inline: <<~'SHELL'",
    '    set -eu',
    `    name=${name}`,
    '    [ "$(hostname)" = "$name" ] && exit 0',
    '    hostnamectl set-hostname "$name" 2>/dev/null || { printf \'%s\\n\' "$name" > /etc/hostname; hostname "$name"; }',
    "    if grep -q '^127\\.0\\.1\\.1[[:space:]]' /etc/hosts; then",
    '      sed -i "s/^127\\.0\\.1\\.1[[:space:]].*/127.0.1.1 $name/" /etc/hosts',
    '    else',
    '      printf \'127.0.1.1 %s\\n\' "$name" >> /etc/hosts',
    '    fi',
    '  SHELL',
  ];
}

/** The file in the VM's directory that holds its user data (mode 0600) while its first boot runs it. */
export const USER_DATA_FILE = 'user-data';

/** What the user-data provisioner prints once the script has run: `<marker><exit code>:<base64 of the output tail>`. */
export const USER_DATA_RESULT_MARKER = 'vm-platform-user-data-result:';

/** Lines and bytes of the script's output kept for the `vm.user_data_finished` event. */
export const USER_DATA_TAIL_LINES = 20;
export const USER_DATA_TAIL_BYTES = 4096;

/**
 * First-boot user data, after the login user's keys: Vagrant uploads USER_DATA_FILE from the VM's
 * directory (the script never appears in the Vagrantfile), then runs it as root with its output in
 * /var/lib/vm-platform/user-data.log. The wrapper always exits 0, so a failing script leaves the
 * machine up (`running` means "you can log in"); it prints one marker line with the exit code and
 * the base64 of the output's last lines (base64 survives --machine-readable's escaping). Provisioners
 * run only on the machine's first `up` (and after a rebuild), never on a later start or reload.
 */
function userDataProvisioner(): string[] {
  return [
    `  config.vm.provision 'user-data-upload', type: 'file', source: '${USER_DATA_FILE}', destination: '/tmp/vm-platform-user-data'`,
    "  config.vm.provision 'user-data', type: 'shell', privileged: true, inline: <<~'SHELL'",
    '    set -u',
    '    dir=/var/lib/vm-platform',
    '    install -d -m 0700 "$dir"',
    '    install -m 0700 /tmp/vm-platform-user-data "$dir/user-data"',
    '    rm -f /tmp/vm-platform-user-data',
    '    code=0',
    '    "$dir/user-data" > "$dir/user-data.log" 2>&1 < /dev/null || code=$?',
    '    printf \'%s\\n\' "$code" > "$dir/user-data.exit"',
    `    tail_b64=$(tail -n ${USER_DATA_TAIL_LINES} "$dir/user-data.log" | tail -c ${USER_DATA_TAIL_BYTES} | base64 | tr -d '\\n')`,
    `    echo "${USER_DATA_RESULT_MARKER}$code:$tail_b64"`,
    '    exit 0',
    '  SHELL',
  ];
}

/** The outcome the user-data provisioner printed in `vagrant up`'s output, or null when it printed none. */
export function parseUserDataResult(output: string): { exitCode: number; outputTail: string } | null {
  const re = new RegExp(`${USER_DATA_RESULT_MARKER}(\\d{1,3}):([A-Za-z0-9+/=]*)`, 'g');
  let last: RegExpExecArray | null = null;
  for (let m = re.exec(output); m; m = re.exec(output)) last = m;
  if (!last) return null;
  return { exitCode: Number(last[1]), outputTail: Buffer.from(last[2] ?? '', 'base64').toString('utf8') };
}

/**
 * Renders the Vagrantfile of one VM. Refuses (throws an Error) anything that is not a hostname label,
 * a catalog-style box name, a known provider, a positive integer in range, a host setting of its
 * expected shape or one OpenSSH public key line, so nothing from a user can reach Ruby code unchecked.
 */
export function renderVagrantfile(vm: VmTarget, opts: VagrantfileOptions): string {
  if (typeof vm.name !== 'string' || !HOSTNAME_LABEL_RE.test(vm.name)) {
    throw new Error(`Vagrantfile: name ${JSON.stringify(vm.name)} is not a hostname label (a-z, 0-9, '-', at most 63)`);
  }
  if (typeof vm.id !== 'string' || !VM_ID_RE.test(vm.id)) throw new Error(`Vagrantfile: VM id ${JSON.stringify(vm.id)} is not a plain id`);
  if (typeof opts.box !== 'string' || !BOX_NAME_RE.test(opts.box)) {
    throw new Error(`Vagrantfile: box ${JSON.stringify(opts.box)} is not owner/name`);
  }
  if (opts.provider !== 'libvirt' && opts.provider !== 'virtualbox') {
    throw new Error(`Vagrantfile: unsupported provider ${JSON.stringify(opts.provider)}`);
  }
  const memory = integer('ramMb', vm.ramMb);
  const cpus = integer('cpuCores', vm.cpuCores);
  const disk = integer('diskGb', vm.diskGb);
  const keys = publicKeys(vm.sshPublicKeys);
  const host = hostSettings(opts.host ?? {}, opts.provider);

  const lines = [
    '# Generated by the VM platform; rewritten before every up/reload. Do not edit.',
    "Vagrant.configure('2') do |config|",
    `  config.vm.box = ${rubyString(opts.box)}`,
    `  config.vm.hostname = ${rubyString(vm.name)}`,
    '  # Nothing to share from this directory (and some providers would need NFS for it).',
    "  config.vm.synced_folder '.', '/vagrant', disabled: true",
    ...host.config,
    '',
    ...loginUserProvisioner(vm.sshUser, keys),
    '',
    ...hostnameProvisioner(vm.name),
    '',
    ...(vm.userData !== undefined && vm.userData !== null ? [...userDataProvisioner(), ''] : []),
  ];
  if (opts.provider === 'libvirt') {
    lines.push(
      '  config.vm.provider :libvirt do |libvirt|',
      ...host.libvirt,
      `    # The domain is ${libvirtDomainName(vm.id)}: the watchers read it from libvirt by this name.`,
      `    libvirt.default_prefix = ${rubyString(`${vm.id}_`)}`,
      `    libvirt.memory = ${memory}`,
      `    libvirt.cpus = ${cpus}`,
      '    # Grows the volume only: the box grows its root partition and filesystem to it on first boot.',
      `    libvirt.machine_virtual_size = ${disk}`,
      '  end',
    );
  } else {
    lines.push(
      '  # Needs VAGRANT_EXPERIMENTAL=disks, otherwise Vagrant silently ignores it.',
      `  config.vm.disk :disk, size: ${rubyString(`${disk}GB`)}, primary: true`,
      '  config.vm.provider :virtualbox do |vb|',
      `    vb.memory = ${memory}`,
      `    vb.cpus = ${cpus}`,
      '  end',
    );
  }
  lines.push('end', '');
  return lines.join('\n');
}
