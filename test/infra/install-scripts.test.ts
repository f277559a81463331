/**
 * npm 12 (the registry's `latest` since 2026) runs a dependency's install scripts only when package.json's
 * `allowScripts` approves it; npm 11.16+ warns about unapproved ones, older npm ignores the field. Without
 * approval npm 12's `npm ci` "succeeded" but never compiled better-sqlite3, and `npm run demo` failed opening
 * the state database (reproduced with npm 12.2.2 on Node 24.21 on 2026-11-27). Local mode on Node 22+ has
 * since moved to better-sqlite3 13, a prebuilt binary with no install script (functions/local/sqlite-driver.ts);
 * the approvals keep the install the same under every npm (better-sqlite3 12, Node 20's driver, compiled;
 * esbuild's binary checked) and free of warnings. These tests keep them exactly in step with the lockfile:
 * every locked dependency with an install script is approved, and nothing else is.
 *
 * Approvals are by name, not `name@version`: npm pins an approval to the lockfile's `resolved` URL, and this
 * project's lockfile is written without them (omit-lockfile-registry-resolved, so it installs through any
 * registry mirror). A version bump is reviewed where the lockfile changes.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const packageJson = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as {
  allowScripts?: Record<string, boolean>;
};
const lock = JSON.parse(readFileSync(`${root}package-lock.json`, 'utf8')) as {
  packages: Record<string, { name?: string; version?: string; hasInstallScript?: boolean }>;
};

/** Names of locked dependencies (any depth) that have an install script; the root project's own run always. */
function withInstallScripts(): string[] {
  const names = new Set<string>();
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.hasInstallScript !== true) continue;
    names.add(entry.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
  }
  return [...names].sort();
}

describe('install scripts (npm allowScripts)', () => {
  it('better-sqlite3, whose install script compiles the local state store driver, is among them', () => {
    expect(withInstallScripts()).toContain('better-sqlite3');
  });

  it('every dependency with an install script is approved, and only those', () => {
    const approved = Object.entries(packageJson.allowScripts ?? {})
      .filter(([, allowed]) => allowed === true)
      .map(([name]) => name)
      .sort();
    expect(approved).toEqual(withInstallScripts());
  });

  it('approvals are by name, with no denials that would silently skip a build', () => {
    for (const [key, allowed] of Object.entries(packageJson.allowScripts ?? {})) {
      expect(key).toMatch(/^(@[a-z0-9._-]+\/)?[a-z0-9._-]+$/);
      expect(allowed).toBe(true);
    }
  });
});
