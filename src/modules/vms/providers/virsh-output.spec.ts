import { describe, expect, it } from '@jest/globals';
import { libvirtDomainName } from './vagrantfile';
import { domainCpuTimeNs, domainState, domainStats, parseDomStats, type DomainStats } from './virsh-output';

// `virsh domstats --list-running --state --cpu-total --balloon --block --vcpu` as libvirt 9 prints it: a running
// domain whose guest reports balloon statistics, with a CD-ROM drive without a medium (no path, no capacity).
const RUNNING_WITH_GUEST_STATS = `Domain: '0b6c7a52-4f1e-4d2b-9a57-1c0f5e7d9a10_default'
  state.state=1
  state.reason=1
  cpu.time=61842097000
  cpu.user=40110000000
  cpu.system=17930000000
  cpu.cache.monitor.count=0
  balloon.current=2097152
  balloon.maximum=2097152
  balloon.swap_in=0
  balloon.swap_out=0
  balloon.major_fault=312
  balloon.minor_fault=402113
  balloon.unused=1480216
  balloon.available=2014844
  balloon.usable=1605920
  balloon.last-update=1796150400
  balloon.disk_caches=152004
  balloon.hugetlb_pgalloc=0
  balloon.hugetlb_pgfail=0
  balloon.rss=731244
  vcpu.current=2
  vcpu.maximum=2
  vcpu.0.state=1
  vcpu.0.time=25310000000
  vcpu.0.wait=0
  vcpu.0.delay=0
  vcpu.1.state=1
  vcpu.1.time=24870000000
  vcpu.1.wait=0
  vcpu.1.delay=0
  block.count=2
  block.0.name=sda
  block.0.rd.reqs=12
  block.0.rd.bytes=408
  block.0.rd.times=210044
  block.0.wr.reqs=0
  block.0.wr.bytes=0
  block.0.wr.times=0
  block.0.fl.reqs=0
  block.0.fl.times=0
  block.1.name=vda
  block.1.path=/var/lib/libvirt/images/0b6c7a52-4f1e-4d2b-9a57-1c0f5e7d9a10_default.img
  block.1.backingIndex=1
  block.1.rd.reqs=9120
  block.1.rd.bytes=251904000
  block.1.rd.times=5120911340
  block.1.wr.reqs=2215
  block.1.wr.bytes=60416000
  block.1.wr.times=4410082113
  block.1.fl.reqs=503
  block.1.fl.times=1209333870
  block.1.allocation=1644167168
  block.1.capacity=21474836480
  block.1.physical=1644232704

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
    expect(domainCpuTimeNs(only(RUNNING_WITH_GUEST_STATS))).toBe(61842097000);
    expect(domainCpuTimeNs(only(NO_CGROUPS_AND_SHUT_OFF))).toBe(90000000000);
    expect(domainCpuTimeNs(parseDomStats(NO_CGROUPS_AND_SHUT_OFF)[1]!)).toBeUndefined();
  });
});

describe('domainStats', () => {
  it('the guest’s memory view, the RAM it has, its disks (an empty drive skipped); no CPU without a previous reading', () => {
    const d = only(RUNNING_WITH_GUEST_STATS);
    const now = { cpuTimeNs: domainCpuTimeNs(d)!, atMs: 10_000 };
    expect(domainStats(d, 2, undefined, now)).toEqual({
      // available - usable: MemTotal - MemAvailable, as the guest's own `free` would say.
      memory_used_mb: Math.round((2014844 - 1605920) / 1024),
      memory_total_mb: 2048,
      disk_size_gb: 20,
      disk_allocated_gb: 1.53,
    });
  });

  it('CPU percent over the elapsed time and the vCPUs, capped at 100; none when the time went backwards', () => {
    const d = only(RUNNING_WITH_GUEST_STATS);
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
