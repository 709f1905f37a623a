import { describe, expect, it } from '@jest/globals';
import { libvirtDomainName } from './vagrantfile';
import { domainCpuTimeNs, domainState, domainStats, parseDomStats, type DomainStats } from './virsh-output';

// Real output: `virsh domstats --list-running --state --cpu-total --balloon --block --vcpu` (libvirt 9.0, Debian 12)
// of the real-VM test's guest (1024 MB, 2 vCPUs, 10 GB; TCG), whose balloon driver reports statistics.
const REAL_RUNNING = `Domain: '01a24d14-7632-751f-9139-b74868dc791d_default'
  state.state=1
  state.reason=1
  cpu.time=92030000000
  cpu.user=87070000000
  cpu.system=4960000000
  cpu.cache.monitor.count=0
  cpu.haltpoll.success.time=0
  cpu.haltpoll.fail.time=0
  balloon.current=1048576
  balloon.maximum=1048576
  balloon.swap_in=0
  balloon.swap_out=0
  balloon.major_fault=263
  balloon.minor_fault=37652
  balloon.unused=865544
  balloon.available=983488
  balloon.usable=822132
  balloon.last-update=1796589579
  balloon.disk_caches=41564
  balloon.hugetlb_pgalloc=0
  balloon.hugetlb_pgfail=0
  balloon.rss=1619900
  vcpu.current=2
  vcpu.maximum=2
  vcpu.0.state=1
  vcpu.0.time=49390000000
  vcpu.0.wait=0
  vcpu.0.delay=62276233126
  vcpu.1.state=1
  vcpu.1.time=37190000000
  vcpu.1.wait=0
  vcpu.1.delay=57421830925
  block.count=1
  block.0.name=vda
  block.0.path=/var/lib/libvirt/images/01a24d14-7632-751f-9139-b74868dc791d_default.img
  block.0.backingIndex=1
  block.0.rd.reqs=4680
  block.0.rd.bytes=109637120
  block.0.rd.times=4806432682
  block.0.wr.reqs=824
  block.0.wr.bytes=118591488
  block.0.wr.times=1852354541
  block.0.fl.reqs=108
  block.0.fl.times=693037970
  block.0.allocation=119537664
  block.0.capacity=10737418240
  block.0.physical=119484416

`;

// A domain with a CD-ROM drive without a medium (block.0: no path, no capacity) before its disk.
const WITH_EMPTY_DRIVE = `Domain: 'cc33_default'
  state.state=1
  block.count=2
  block.0.name=sda
  block.0.rd.reqs=12
  block.1.name=vda
  block.1.path=/var/lib/libvirt/images/cc33_default.img
  block.1.allocation=1644167168
  block.1.capacity=21474836480

`;

// A host without cgroups (no cpu.time) and a guest without a balloon driver (no guest statistics), then a
// domain shut off: `virsh domstats` of every domain.
const NO_CGROUPS_AND_SHUT_OFF = `Domain: 'aa11_default'
  state.state=1
  state.reason=1
  balloon.current=1048576
  balloon.maximum=1048576
  balloon.last-update=0
  balloon.rss=1210000
  vcpu.current=1
  vcpu.maximum=1
  vcpu.0.state=1
  vcpu.0.time=90000000000
  vcpu.0.wait=0
  block.count=1
  block.0.name=vda
  block.0.path=/var/lib/libvirt/images/aa11_default.img
  block.0.allocation=536870912
  block.0.capacity=10737418240
  block.0.physical=536870912

Domain: 'bb22_default'
  state.state=5
  state.reason=1

`;

function only(text: string): DomainStats {
  const [d] = parseDomStats(text);
  if (!d) throw new Error('no domain');
  return d;
}

describe('parseDomStats', () => {
  it('splits the output into domains with their fields', () => {
    const domains = parseDomStats(NO_CGROUPS_AND_SHUT_OFF);
    expect(domains.map((d) => d.name)).toEqual(['aa11_default', 'bb22_default']);
    expect(domains[1]!.fields).toEqual(
      new Map([
        ['state.state', '5'],
        ['state.reason', '1'],
      ]),
    );
    expect(domains[0]!.fields.get('block.0.path')).toBe('/var/lib/libvirt/images/aa11_default.img');
  });

  it('tolerates CRLF, a name without quotes (older virsh) and nothing at all', () => {
    const [d] = parseDomStats('Domain: web_default\r\n  state.state=1\r\n\r\n');
    expect(d!.name).toBe('web_default');
    expect(d!.fields.get('state.state')).toBe('1');
    expect(parseDomStats('')).toEqual([]);
    expect(parseDomStats('  state.state=1\n')).toEqual([]);
  });
});

describe('domainState', () => {
  it.each([
    [1, 'running'],
    [2, 'running'],
    [5, 'stopped'],
    [0, 'unknown'],
    [3, 'unknown'],
    [4, 'unknown'],
    [6, 'unknown'],
    [7, 'unknown'],
  ])('state.state=%i is %s', (state, expected) => {
    expect(domainState(only(`Domain: 'x'\n  state.state=${state}\n`))).toBe(expected);
  });

  it('is unknown without a state field', () => {
    expect(domainState(only(`Domain: 'x'\n  cpu.time=1\n`))).toBe('unknown');
  });
});

describe('domainCpuTimeNs', () => {
  it('is cpu.time when libvirt reports it, else the sum of the vCPU times', () => {
    expect(domainCpuTimeNs(only(REAL_RUNNING))).toBe(92030000000);
    expect(domainCpuTimeNs(only(NO_CGROUPS_AND_SHUT_OFF))).toBe(90000000000);
    expect(domainCpuTimeNs(parseDomStats(NO_CGROUPS_AND_SHUT_OFF)[1]!)).toBeUndefined();
  });
});

describe('domainStats', () => {
  it('the guest’s memory view, the RAM it has, its disk; no CPU without a previous reading (real output)', () => {
    const d = only(REAL_RUNNING);
    expect(d.name).toBe('01a24d14-7632-751f-9139-b74868dc791d_default');
    expect(domainState(d)).toBe('running');
    const now = { cpuTimeNs: domainCpuTimeNs(d)!, atMs: 10_000 };
    expect(domainStats(d, 2, undefined, now)).toEqual({
      // available - usable: MemTotal - MemAvailable, as the guest's own `free` says (not the TCG process's 1.6 GB RSS).
      memory_used_mb: Math.round((983488 - 822132) / 1024),
      memory_total_mb: 1024,
      disk_size_gb: 10,
      disk_allocated_gb: 0.11,
    });
  });

  it('skips a drive without a medium', () => {
    expect(domainStats(only(WITH_EMPTY_DRIVE), 1, undefined, undefined)).toEqual({ disk_size_gb: 20, disk_allocated_gb: 1.53 });
  });

  it('CPU percent over the elapsed time and the vCPUs, capped at 100; none when the time went backwards', () => {
    const d = only(REAL_RUNNING);
    // 3 s of CPU time in 2 s on 2 vCPUs: 75 %.
    const previous = { cpuTimeNs: 10e9, atMs: 1000 };
    expect(domainStats(d, 2, previous, { cpuTimeNs: 13e9, atMs: 3000 }).cpu_percent).toBe(75);
    expect(domainStats(d, 2, previous, { cpuTimeNs: 20e9, atMs: 3000 }).cpu_percent).toBe(100);
    expect(domainStats(d, 2, previous, { cpuTimeNs: 5e9, atMs: 3000 }).cpu_percent).toBeUndefined();
    expect(domainStats(d, 2, previous, { cpuTimeNs: 13e9, atMs: 1000 }).cpu_percent).toBeUndefined();
    expect(domainStats(d, 2, previous, undefined).cpu_percent).toBeUndefined();
  });

  it('without vcpu.current, the VM’s own core count divides', () => {
    const d = only(`Domain: 'x'\n  state.state=1\n  cpu.time=1\n`);
    expect(domainStats(d, 4, { cpuTimeNs: 0, atMs: 0 }, { cpuTimeNs: 2e9, atMs: 1000 }).cpu_percent).toBe(50);
  });

  it('without guest statistics, memory used is the QEMU process’s resident memory, at most the RAM', () => {
    const d = only(NO_CGROUPS_AND_SHUT_OFF);
    expect(domainStats(d, 1, undefined, undefined)).toEqual({
      memory_used_mb: 1024,
      memory_total_mb: 1024,
      disk_size_gb: 10,
      disk_allocated_gb: 0.5,
    });
    const small = only(`Domain: 'x'\n  balloon.current=1048576\n  balloon.rss=524288\n`);
    expect(domainStats(small, 1, undefined, undefined)).toEqual({ memory_used_mb: 512, memory_total_mb: 1024 });
  });

  it('a domain that reports nothing has no figures', () => {
    expect(domainStats(only(`Domain: 'x'\n  state.state=1\n`), 1, undefined, undefined)).toEqual({});
  });
});

describe('libvirtDomainName', () => {
  it('is the VM id and vagrant’s machine name, as the Vagrantfile’s default_prefix makes it', () => {
    expect(libvirtDomainName('0b6c7a52-4f1e-4d2b-9a57-1c0f5e7d9a10')).toBe('0b6c7a52-4f1e-4d2b-9a57-1c0f5e7d9a10_default');
  });
});
