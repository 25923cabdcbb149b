// Running iptables for the NAT data plane. The binaries are found on PATH (and the sbin folders, where
// Debian puts them); a failure carries the command and what iptables said.
import { spawn } from 'node:child_process';
import { DEFAULTS } from '../defaults.js';
import { MeshdnsError } from '../errors.js';
import { IPTABLES, type NatFamily } from './nat-rules.js';

export interface NatCommands {
  /** Runs one command; resolves with its exit status (non-zero is not an error: `-C` answers with it). */
  run(argv: string[]): Promise<{ status: number; stderr: string }>;
  /** Feeds `input` to `iptables-restore --noflush` of the family; rejects when it is refused. */
  restore(family: NatFamily, input: string): Promise<void>;
}

const SBIN = '/usr/local/sbin:/usr/sbin:/sbin';

function exec(argv: string[], input?: string): Promise<{ status: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['pipe', 'ignore', 'pipe'],
      env: { ...process.env, PATH: `${process.env.PATH ?? ''}:${SBIN}` },
      timeout: DEFAULTS.vipNatCommandTimeoutMs,
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      // Bounded: iptables says what is wrong in a line or two.
      if (stderr.length < 4096) stderr += d;
    });
    child.on('error', (err) =>
      reject(
        new MeshdnsError('MESHDNS_VIP_NAT', `${argv[0]}: ${err.message}: install iptables`, { cause: err }),
      ),
    );
    child.on('close', (code, signal) =>
      resolve({ status: code ?? (signal ? 128 : 1), stderr: stderr.trim() }),
    );
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

export const iptablesCommands: NatCommands = {
  run: (argv) => exec(argv),
  restore: async (family, input) => {
    const argv = [IPTABLES[family].restore, '-w', '--noflush'];
    const { status, stderr } = await exec(argv, input);
    if (status !== 0) {
      throw new MeshdnsError(
        'MESHDNS_VIP_NAT',
        `${argv.join(' ')} refused the VIP rules (exit ${status}): ${stderr || 'no message'}`,
      );
    }
  },
};
