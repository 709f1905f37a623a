import { describe, it, expect } from '@jest/globals';
import { humanizeOutput, machineState, parseMachineReadable, parseSshConfig } from './vagrant-output';

// Real `vagrant status --machine-readable` output (vagrant 2.3.4 + vagrant-libvirt, machine not created).
const STATUS_NOT_CREATED = [
  '1795636637,default,metadata,provider,libvirt',
  '1795636637,default,provider-name,libvirt',
  '1795636637,default,state,not_created',
  '1795636637,default,state-human-short,not created',
  '1795636637,default,state-human-long,The Libvirt domain is not created. Run `vagrant up` to create it.',
  '1795636637,,ui,info,Current machine states:\\n\\ndefault                   not created (libvirt)\\n\\nThe Libvirt domain is not created. Run `vagrant up` to create it.',
  '',
].join('\n');

// Real error output of `vagrant halt --machine-readable` without a Vagrantfile (all on stdout).
const NO_ENV_ERROR = [
  '1795636748,,ui,error,A Vagrant environment or target machine is required to run this\\ncommand. Run `vagrant init` to create a new Vagrant environment. Or%!(VAGRANT_COMMA)\\nget an ID of a target machine.',
  '1795636748,,error-exit,Vagrant::Errors::NoEnvironmentError,A Vagrant environment or target machine is required to run this\\ncommand. Run `vagrant init` to create a new Vagrant environment. Or%!(VAGRANT_COMMA)\\nget an ID of a target machine.',
  '',
].join('\n');

describe('parseMachineReadable', () => {
  it('splits records into timestamp, target, type and data', () => {
    const lines = parseMachineReadable(STATUS_NOT_CREATED);
    expect(lines).toHaveLength(6);
    expect(lines[0]).toEqual({ timestamp: 1795636637, target: 'default', type: 'metadata', data: ['provider', 'libvirt'] });
    expect(lines[2]).toEqual({ timestamp: 1795636637, target: 'default', type: 'state', data: ['not_created'] });
    expect(lines[5]!.target).toBe('');
    expect(lines[5]!.type).toBe('ui');
  });

  it('unescapes %!(VAGRANT_COMMA) and literal \\n inside data, not as field separators', () => {
    const [line] = parseMachineReadable(
      '1700000000,default,state-human-long,To stop this machine%!(VAGRANT_COMMA) you can run\\n`vagrant halt`.,second\n',
    );
    expect(line!.data).toEqual(['To stop this machine, you can run\n`vagrant halt`.', 'second']);
  });

  it('unescapes literal \\r and tolerates CRLF line endings', () => {
    const lines = parseMachineReadable('1700000000,default,ui,info,a\\r\\nb\r\n1700000001,default,state,running\r\n');
    expect(lines.map((l) => l.data)).toEqual([['info', 'a\r\nb'], ['running']]);
  });

  it('keeps several targets apart', () => {
    const out = [
      '1700000000,web,metadata,provider,libvirt',
      '1700000000,web,state,running',
      '1700000000,db,metadata,provider,libvirt',
      '1700000000,db,state,shutoff',
      '1700000000,,ui,info,two machines',
    ].join('\n');
    const lines = parseMachineReadable(out);
    expect(lines.filter((l) => l.target === 'web').map((l) => l.type)).toEqual(['metadata', 'state']);
    expect(lines.filter((l) => l.target === 'db').map((l) => l.type)).toEqual(['metadata', 'state']);
    expect(machineState(lines, 'db')).toBe('shutoff');
    expect(machineState(lines, 'web')).toBe('running');
    // Unknown target: the first state record.
    expect(machineState(lines, 'default')).toBe('running');
  });

  it('ignores garbage lines', () => {
    const out = [
      'Bringing machine up...',
      '==> default: Booting',
      'abc,default,state,running',
      '1700000000,default',
      '1700000000',
      '',
      '   ',
      '1700000000,default,,x',
      '1700000000,default,9bad,x',
      '17000000000000000000,default,state,running',
      '1700000000,default,state,shutoff',
    ].join('\n');
    expect(parseMachineReadable(out)).toEqual([{ timestamp: 1700000000, target: 'default', type: 'state', data: ['shutoff'] }]);
  });

  it('accepts records without data and empty data fields', () => {
    expect(parseMachineReadable('1700000000,default,action\n1700000000,,ui,info,')).toEqual([
      { timestamp: 1700000000, target: 'default', type: 'action', data: [] },
      { timestamp: 1700000000, target: '', type: 'ui', data: ['info', ''] },
    ]);
  });

  it('returns nothing for empty input', () => {
    expect(parseMachineReadable('')).toEqual([]);
    expect(machineState([])).toBeNull();
  });
});

describe('machineState', () => {
  it('reads the state record of the default machine', () => {
    expect(machineState(parseMachineReadable(STATUS_NOT_CREATED))).toBe('not_created');
  });
});

describe('humanizeOutput', () => {
  it('keeps ui and error messages once, drops metadata/state records, keeps plain lines', () => {
    expect(humanizeOutput(NO_ENV_ERROR)).toBe(
      'A Vagrant environment or target machine is required to run this\ncommand. Run `vagrant init` to create a new Vagrant environment. Or,\nget an ID of a target machine.',
    );
    expect(humanizeOutput('1700000000,default,metadata,provider,libvirt\nplain text\n1700000000,default,ui,info,==> default: hi')).toBe(
      'plain text\n==> default: hi',
    );
  });
});

describe('parseSshConfig', () => {
  const LIBVIRT = [
    'Host default',
    '  HostName 192.168.121.23',
    '  User vagrant',
    '  Port 22',
    '  UserKnownHostsFile /dev/null',
    '  StrictHostKeyChecking no',
    '  PasswordAuthentication no',
    '  IdentityFile /srv/vms/abc/.vagrant/machines/default/libvirt/private_key',
    '  IdentitiesOnly yes',
    '  LogLevel FATAL',
    '',
  ].join('\n');

  it('reads HostName, Port and User of the default host', () => {
    const [host] = parseSshConfig(LIBVIRT);
    expect(host!.host).toBe('default');
    expect(host!.hostName).toBe('192.168.121.23');
    expect(host!.port).toBe(22);
    expect(host!.user).toBe('vagrant');
    expect(host!.options.identityfile).toBe('/srv/vms/abc/.vagrant/machines/default/libvirt/private_key');
  });

  it('handles key=value, quotes, comments, odd case, CRLF and several hosts', () => {
    const text =
      '# generated\r\nHost web\r\n  hostname=127.0.0.1\r\n  PORT 2222\r\n  IdentityFile "/a b/key"\r\nHost db\r\n  HostName 10.0.0.5\r\n  Port 2200\r\n';
    const hosts = parseSshConfig(text);
    expect(hosts.map((h) => [h.host, h.hostName, h.port])).toEqual([
      ['web', '127.0.0.1', 2222],
      ['db', '10.0.0.5', 2200],
    ]);
    expect(hosts[0]!.options.identityfile).toBe('/a b/key');
  });

  it('keeps the first value of a repeated option and rejects bad ports', () => {
    const [host] = parseSshConfig('Host default\n  Port 99999\n  Port 22\n  HostName a\n  HostName b\n');
    expect(host!.port).toBeNull();
    expect(host!.hostName).toBe('a');
  });

  it('ignores options before any Host line and returns [] for garbage', () => {
    expect(parseSshConfig('HostName 1.2.3.4\nPort 22\n')).toEqual([]);
    expect(parseSshConfig('')).toEqual([]);
    expect(parseSshConfig('The provider for this Vagrant-managed machine is reporting that it\nis not yet ready for SSH.')).toEqual([]);
  });
});
