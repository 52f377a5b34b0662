import { describe, expect, it } from 'vitest';
import { YardError } from '../errors.js';
import { dockerPortLines, mappingsClash, parsePortSpec, parsePortSpecs, psPortsCell } from './ports.js';
import { thrown } from '../../test/unit/thrown.js';

function fails(spec: string): YardError {
  try {
    parsePortSpec(spec);
  } catch (e) {
    expect(e).toBeInstanceOf(YardError);
    expect((e as YardError).field).toBe('-p');
    expect((e as YardError).message).toContain(`-p ${spec}`);
    return e as YardError;
  }
  throw new Error(`-p ${spec} was accepted`);
}

describe('parsePortSpec', () => {
  it('reads Docker\'s forms', () => {
    expect(parsePortSpec('8080:80')).toEqual({ proto: 'tcp', containerPort: 80, containerPortEnd: 80, hostIp: '', hostPort: 8080, hostPortEnd: 8080 });
    expect(parsePortSpec('127.0.0.1:9090:90/tcp')).toMatchObject({ hostIp: '127.0.0.1', hostPort: 9090, containerPort: 90 });
    expect(parsePortSpec('5353:53/udp')).toMatchObject({ proto: 'udp', hostPort: 5353, containerPort: 53 });
    expect(parsePortSpec('20000-20999:20000-20999')).toMatchObject({ hostPort: 20000, hostPortEnd: 20999, containerPort: 20000, containerPortEnd: 20999 });
    expect(parsePortSpec('80')).toMatchObject({ hostPort: 0, containerPort: 80 });
    expect(parsePortSpec('127.0.0.1::80')).toMatchObject({ hostIp: '127.0.0.1', hostPort: 0 });
    expect(parsePortSpec('[fd00:231:0::2]:8080:80/SCTP')).toMatchObject({ hostIp: 'fd00:231::2', proto: 'sctp' });
    expect(parsePortSpec('8000-8010:80')).toMatchObject({ hostPort: 8000, hostPortEnd: 8010, hostRangeChoice: true });
  });

  it('refuses bad values, naming the -p value and the fix', () => {
    expect(fails('').message).toMatch(/empty/);
    expect(fails('80:').message).toMatch(/container port is missing/);
    expect(fails('a:80').message).toMatch(/host port "a" is not a port/);
    expect(fails('0:80').message).toMatch(/host port 0 is out of range/);
    expect(fails('8080:65536').message).toMatch(/container port 65536 is out of range/);
    expect(fails('8080:80/icmp').message).toMatch(/unknown protocol "icmp"/);
    expect(fails('8000-8009:80-81').message).toMatch(/has 10 ports and the container range 80-81 has 2/);
    expect(fails('1.2.3:80:80').message).toMatch(/not an IPv4 address/);
    expect(fails('::1:80:80').message).toMatch(/too many ":"|not an IPv4/);
    expect(fails('9000-8000:80').message).toMatch(/ends before it starts/);
  });

  it.each(['8090:80\n', ' 8090:80', '8090:80 ', '8090 :80', '8090:80\t', '8090:\u000080', '8090:80/tcp\r'])('refuses %j: nothing is trimmed or skipped', (spec) => {
    const e = thrown(() => parsePortSpec(spec));
    expect(e.field).toBe('-p');
    expect(e.message).toContain(`-p ${JSON.stringify(spec)}`);
    expect(e.message).toMatch(/blanks, line breaks or control characters/);
    // Positive control: the same spec without the stray character.
    expect(parsePortSpec(spec.replace(/[\s\u0000]/g, ''))).toMatchObject({ hostPort: 8090, containerPort: 80 });
  });

  it('refuses more than 1024 -p values for one sandbox, takes 1024', () => {
    const specs = Array.from({ length: 1025 }, (_, i) => `${10000 + i}:80`);
    expect(thrown(() => parsePortSpecs(specs)).message).toMatch(/-p is given 1025 times; at most 1024/);
    expect(parsePortSpecs(specs.slice(0, 1024))).toHaveLength(1024);
  });
});

describe('clashes and Docker output', () => {
  const m = parsePortSpec('8080:80');
  it('sees overlapping addresses, protocols and ranges', () => {
    expect(mappingsClash(m, parsePortSpec('127.0.0.1:8080:81'))).toBe(true);
    expect(mappingsClash(m, parsePortSpec('8080:80/udp'))).toBe(false);
    expect(mappingsClash(parsePortSpec('127.0.0.1:8080:80'), parsePortSpec('10.0.0.1:8080:80'))).toBe(false);
    expect(mappingsClash(parsePortSpec('8000-8100:8000-8100'), m)).toBe(true);
    expect(mappingsClash(parsePortSpec('[::]:8080:80'), parsePortSpec('0.0.0.0:8080:80'))).toBe(false);
  });
  it('prints `docker port` and `docker ps` forms', () => {
    expect(dockerPortLines([m, parsePortSpec('127.0.0.1:9090:90')], true)).toEqual(['80/tcp -> 0.0.0.0:8080', '80/tcp -> [::]:8080', '90/tcp -> 127.0.0.1:9090']);
    expect(dockerPortLines([parsePortSpec('7000-7001:70-71/udp')], false)).toEqual(['70/udp -> 0.0.0.0:7000', '71/udp -> 0.0.0.0:7001']);
    expect(psPortsCell([m, parsePortSpec('20000-20999:20000-20999')], false)).toBe('0.0.0.0:8080->80/tcp, 0.0.0.0:20000-20999->20000-20999/tcp');
  });
});
