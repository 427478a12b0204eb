import { describe, expect, it } from 'vitest';
import { MissingToolError } from '../errors.js';
import type { CommandResult, CommandRunner } from '../host/command-runner.js';
import { interfaceId, NftVirtualMacs, VMAC_NFT_TABLE } from './virtual-mac-device.js';

class Recorder implements CommandRunner {
  readonly calls: string[] = [];
  listing = '';
  run(cmd: string, args: readonly string[], input?: string): Promise<CommandResult> {
    this.calls.push([cmd, ...args].join(' ') + (input !== undefined ? `\n${input}` : ''));
    if (cmd === 'nft' && args[0] === 'list') return Promise.resolve({ code: this.listing === '' ? 1 : 0, stdout: this.listing, stderr: '' });
    return Promise.resolve({ code: 0, stdout: '', stderr: '' });
  }
}

const MAC = '02:aa:bb:cc:dd:ee';

describe('virtual MAC kernel side (nftables netdev ingress + unicast filter)', () => {
  it('accept: creates the chain and set of the interface once, adds the MAC to the set and to the unicast filter', async () => {
    const r = new Recorder();
    const v = new NftVirtualMacs({ runner: r });
    await v.accept('eth0', MAC);
    const id = interfaceId('eth0');
    expect(r.calls[0]).toContain(`add chain netdev ${VMAC_NFT_TABLE} i${id} { type filter hook ingress device "eth0" priority filter; policy accept; }`);
    expect(r.calls[0]).toContain(`add rule netdev ${VMAC_NFT_TABLE} i${id} ether daddr @m${id} meta pkttype set host`);
    expect(r.calls[0]).toContain(`add element netdev ${VMAC_NFT_TABLE} m${id} { ${MAC} }`);
    expect(r.calls[1]).toBe(`bridge fdb replace ${MAC} dev eth0 self permanent`);
    r.calls.length = 0;
    await v.release('eth0', MAC);
    await v.accept('eth0', MAC);
    // The set first: the host stops accepting at once; the second gain is one nft line.
    expect(r.calls).toEqual([
      `nft -f -\ndelete element netdev ${VMAC_NFT_TABLE} m${id} { ${MAC} }\n`,
      `bridge fdb del ${MAC} dev eth0 self`,
      `nft -f -\nadd element netdev ${VMAC_NFT_TABLE} m${id} { ${MAC} }\n`,
      `bridge fdb replace ${MAC} dev eth0 self permanent`,
    ]);
  });

  it('removeAll: removes the filter entries the sets name (also a killed run\'s) and the table', async () => {
    const r = new Recorder();
    r.listing = [
      `table netdev ${VMAC_NFT_TABLE} {`,
      `\tset m${interfaceId('eth0.100')} {`,
      '\t\ttype ether_addr',
      '\t\tcomment "eth0.100"',
      `\t\telements = { ${MAC}, 02:00:00:00:00:01 }`,
      '\t}',
      '}',
    ].join('\n');
    const removed = await new NftVirtualMacs({ runner: r }).removeAll();
    expect(r.calls).toContain(`bridge fdb del ${MAC} dev eth0.100 self`);
    expect(r.calls).toContain('bridge fdb del 02:00:00:00:00:01 dev eth0.100 self');
    expect(r.calls.at(-1)).toBe(`nft delete table netdev ${VMAC_NFT_TABLE}`);
    expect(removed).toHaveLength(3);
  });

  it('removeAll with nothing there, or without nft on the host, removes nothing', async () => {
    expect(await new NftVirtualMacs({ runner: new Recorder() }).removeAll()).toEqual([]);
    const noNft: CommandRunner = { run: () => Promise.reject(new MissingToolError('"nft" is not installed')) };
    expect(await new NftVirtualMacs({ runner: noNft }).removeAll()).toEqual([]);
  });
});
