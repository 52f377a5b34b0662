import { describe, expect, it } from 'vitest';
import { markdownFromGuest, MD_BEGIN, MD_END, routeFromWarning } from './vm-datapath.js';

describe('vm-datapath parsing', () => {
  it('reads the upstream route out of an ipvlan l3 network create warning', () => {
    const w = 'ipvlan l3: the LAN reaches 10.72.0.0/24 only through this host; on the upstream router add: ip route add 10.72.0.0/24 via 10.231.0.2';
    expect(routeFromWarning(w)).toEqual({ subnet: '10.72.0.0/24', via: '10.231.0.2' });
    expect(routeFromWarning('')).toBeNull();
  });

  it('cuts the markdown out of the guest console, escape sequences before a marker included', () => {
    const out = ['  noise', `\u001b[?25h${MD_BEGIN}`, 'Run x.', '', '| a | b |', MD_END, 'YARD_VM_RC=0'].join('\n');
    expect(markdownFromGuest(out)).toBe('Run x.\n\n| a | b |');
  });

  it('gives null when the guest never finished the block', () => {
    expect(markdownFromGuest(`${MD_BEGIN}\n| a |`)).toBeNull();
    expect(markdownFromGuest('nothing')).toBeNull();
  });
});
