// The external programs a benchmark needs; missing ones are installed from Debian when we are root.
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

export interface Tool {
  /** Executable looked up on PATH (plus the sbin folders, where dnsmasq lives). */
  bin: string;
  /** Debian package that provides it. */
  pkg: string;
}

const EXTRA_DIRS = ['/usr/sbin', '/sbin', '/usr/local/sbin'];

export function findExecutable(bin: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), ...EXTRA_DIRS].filter(Boolean);
  for (const dir of dirs) {
    const file = path.join(dir, bin);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // Not in this folder.
    }
  }
  return undefined;
}

/** Returns the absolute path of each tool by `bin`, installing the missing ones with apt-get. */
export function ensureTools(tools: readonly Tool[], log: (line: string) => void): Map<string, string> {
  const missing = tools.filter((t) => !findExecutable(t.bin));
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((t) => t.pkg))];
    if (process.getuid?.() !== 0) {
      throw new Error(
        `missing ${missing.map((t) => t.bin).join(', ')}: run apt-get install -y ${pkgs.join(' ')}`,
      );
    }
    log(`installing ${pkgs.join(' ')} (for ${missing.map((t) => t.bin).join(', ')}) with apt-get`);
    execFileSync('apt-get', ['update'], { stdio: 'inherit' });
    execFileSync('apt-get', ['install', '-y', ...pkgs], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  }
  const found = new Map<string, string>();
  for (const t of tools) {
    const file = findExecutable(t.bin);
    if (!file) throw new Error(`${t.bin} still not found after installing ${t.pkg}`);
    found.set(t.bin, file);
  }
  return found;
}
