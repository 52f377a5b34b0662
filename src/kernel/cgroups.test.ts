import { describe, expect, it } from 'vitest';
import { parseCgroupMounts } from './cgroups.js';

// A hybrid (v1 + unified) machine, a co-mounted cpu,cpuacct hierarchy, and unrelated mounts.
const HYBRID = [
  '22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw',
  '30 22 0:27 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,size=4096k,nr_inodes=1024,mode=755,inode64',
  '31 30 0:28 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate',
  '32 30 0:29 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,name=systemd',
  '33 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct',
  '34 30 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,memory,release_agent=/x',
  '35 1 0:32 / /run rw,nosuid,nodev shared:13 - tmpfs tmpfs rw,mode=755',
  '36 1 0:33 / /mnt/cgroup\\040copy rw - cgroup cgroup rw,pids',
  '',
].join('\n');

describe('parseCgroupMounts', () => {
  it('keeps the hierarchies under /sys/fs/cgroup in mount order, with the options that select each', () => {
    expect(parseCgroupMounts(HYBRID)).toEqual([
      { mountPoint: '/sys/fs/cgroup', fsType: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', 'mode=755'] },
      { mountPoint: '/sys/fs/cgroup/unified', fsType: 'cgroup2', options: ['nosuid', 'nodev', 'noexec', 'nsdelegate'] },
      { mountPoint: '/sys/fs/cgroup/systemd', fsType: 'cgroup', options: ['nosuid', 'nodev', 'noexec', 'xattr', 'name=systemd'] },
      { mountPoint: '/sys/fs/cgroup/cpu,cpuacct', fsType: 'cgroup', options: ['nosuid', 'nodev', 'noexec', 'cpu', 'cpuacct'] },
      { mountPoint: '/sys/fs/cgroup/memory', fsType: 'cgroup', options: ['nosuid', 'nodev', 'noexec', 'memory'] },
    ]);
  });

  it('reads a pure cgroup v2 machine and unescapes mount points', () => {
    const v2 = '30 22 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n';
    expect(parseCgroupMounts(v2)).toEqual([
      { mountPoint: '/sys/fs/cgroup', fsType: 'cgroup2', options: ['nosuid', 'nodev', 'noexec', 'nsdelegate', 'memory_recursiveprot'] },
    ]);
    expect(parseCgroupMounts(HYBRID, '/mnt/cgroup copy')).toEqual([{ mountPoint: '/mnt/cgroup copy', fsType: 'cgroup', options: ['pids'] }]);
  });

  it('a mount point mounted twice keeps its visible (last) mount; other file systems are ignored', () => {
    const twice = [
      '31 30 0:28 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids',
      '40 31 0:40 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids,clone_children',
      '41 30 0:41 / /sys/fs/cgroup/foo rw - proc proc rw',
    ].join('\n');
    expect(parseCgroupMounts(twice)).toEqual([{ mountPoint: '/sys/fs/cgroup/pids', fsType: 'cgroup', options: ['pids', 'clone_children'] }]);
    expect(parseCgroupMounts('')).toEqual([]);
  });
});
