// Drives kernel/nft.ts's NftLib (libnftables in-process) and NftCli (the `nft` command) in the
// namespace this process runs in (a lab host: `ip netns exec`), and prints what each saw as JSON.
import { NftCli, NftLib, openNft } from '../../dist/kernel/nft.js';

const out = {};
const lib = NftLib.open();
out.opened = lib !== null;
out.openNft = openNft().constructor.name;
const cli = new NftCli();
const err = async (p) => p.then(() => null, (e) => e.message);
// A script applied by the library is seen by the command, and the reverse.
out.applyErr = await err(lib.apply('add table inet yt\nadd chain inet yt c { type filter hook input priority 0; policy accept; }\nadd set inet yt s { type ipv4_addr; }\nadd element inet yt s { 10.9.0.1 }\n'));
out.cliSees = await cli.list(['-t', 'list', 'table', 'inet', 'yt']);
await cli.apply('add element inet yt s { 10.9.0.2 }\n');
out.libSees = await lib.list(['list', 'set', 'inet', 'yt', 's']);
out.libTerse = await lib.list(['-t', 'list', 'set', 'inet', 'yt', 's']);
out.json = await lib.json(['list', 'set', 'inet', 'yt', 's']);
out.handles = await lib.list(['-a', 'list', 'chain', 'inet', 'yt', 'c']);
out.exists = [await lib.exists('inet', 'yt'), await lib.exists('inet', 'yt', 'c'), await lib.exists('inet', 'nope'), await lib.exists('inet', 'yt', 'nope')];
// A transaction with a bad line changes nothing: the first line's element is not added.
out.badErr = await err(lib.apply('add element inet yt s { 10.9.0.3 }\nadd element inet yt nosuchset { 10.9.0.4 }\n'));
out.cliBadErr = await err(cli.apply('add element inet yt s { 10.9.0.3 }\nadd element inet yt nosuchset { 10.9.0.4 }\n'));
out.afterBad = await cli.list(['list', 'set', 'inet', 'yt', 's']);
// check parses against the kernel without applying.
out.checkErr = await err(lib.check('add element inet yt s { 10.9.0.5 }\n'));
out.checkBadErr = await err(lib.check('add element inet yt nosuchset { 10.9.0.5 }\n'));
out.afterCheck = await cli.list(['list', 'set', 'inet', 'yt', 's']);
// Calls in flight together are run one at a time, each with its own output.
const many = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? lib.list(['-t', 'list', 'table', 'inet', 'yt']) : lib.apply(`add element inet yt s { 10.9.1.${i} }\n`).then(() => 'applied'))));
out.concurrent = many.map((m) => (m === 'applied' ? 'applied' : m.includes('table inet yt') ? 'listed' : m));
out.finalCount = (await cli.list(['list', 'set', 'inet', 'yt', 's'])).match(/10\.9\./g).length;
// Timing: the library's small change against the command's.
const time = async (fn, n = 30) => {
  const t = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    t.push(performance.now() - t0);
  }
  return t.sort((a, b) => a - b)[n >> 1];
};
out.libMs = await time((i) => lib.apply(`add element inet yt s { 10.9.2.${i} }\n`));
out.cliMs = await time((i) => cli.apply(`add element inet yt s { 10.9.3.${i} }\n`));
await lib.apply('delete table inet yt\n');
out.gone = await lib.exists('inet', 'yt');
console.log(JSON.stringify(out));
