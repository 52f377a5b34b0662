import { describe, expect, it } from 'vitest';
import { checkPluginName, pluginEndpoints, pluginNames, pluginSocketPath, pluginSpecFile } from './plugin-location.js';
import { thrown } from '../../test/unit/thrown.js';

describe('plugin names and sockets', () => {
  it('two names per base: local and -global', () => {
    expect(pluginNames('switchyard')).toEqual({ local: 'switchyard', global: 'switchyard-global' });
  });

  it('sockets live in dockerd\'s plugin directory; only the local name serves IPAM', () => {
    expect(pluginSocketPath('switchyard')).toBe('/run/docker/plugins/switchyard.sock');
    expect(pluginEndpoints()).toEqual([
      { name: 'switchyard', scope: 'local', socket: '/run/docker/plugins/switchyard.sock', ipam: true },
      { name: 'switchyard-global', scope: 'global', socket: '/run/docker/plugins/switchyard-global.sock', ipam: false },
    ]);
    expect(pluginEndpoints('switchyard-lab1-host1', '/tmp/p').map((e) => e.socket)).toEqual(['/tmp/p/switchyard-lab1-host1.sock', '/tmp/p/switchyard-lab1-host1-global.sock']);
  });

  it('a spec file is one line with the socket URL', () => {
    expect(pluginSpecFile('switchyard', '/run/switchyard/h1/plugin.sock')).toEqual({ path: '/etc/docker/plugins/switchyard.spec', content: 'unix:///run/switchyard/h1/plugin.sock\n' });
    expect(thrown(() => pluginSpecFile('switchyard', 'rel.sock')).message).toMatch(/not an absolute path/);
  });

  it.each(['Switchyard', '../x', '', 'a/b', 'x-global', `s${'x'.repeat(64)}`, '-x'])('refuses the name %j', (name) => {
    expect(thrown(() => checkPluginName(name)).field).toBe('--docker-plugin');
    expect(() => pluginEndpoints(name)).toThrow();
  });

  it.each(['switchyard', 'sy_2', 'switchyard-lab1-host1', 'a.b'])('accepts %j', (name) => {
    expect(checkPluginName(name)).toBe(name);
  });
});
