/**
 * What a user reads when the state database cannot be opened. The driver failures are real ones, made by the
 * same calls better-sqlite3 makes (process.dlopen of a file that is not a shared object, `bindings` finding
 * no build, a missing module file): npm 12 skips better-sqlite3's install script unless allowScripts approves
 * it, and then `new Database` fails in one of these ways.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BridgeError, isBridgeError } from '../../functions/core/errors.js';
import { Database, sqliteDriverFor } from '../../functions/local/sqlite-driver.js';
import { isDriverLoadFailure, stateOpenError } from '../../functions/local/sqlite-open-error.js';
import { SqliteStateStore } from '../../functions/local/sqlite-state-store.js';

const require = createRequire(import.meta.url);

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

function openingFails(file: string): BridgeError {
  const error = thrown(() => new SqliteStateStore(file));
  if (!isBridgeError(error, 'STATE_ERR_IO')) throw new Error(`not STATE_ERR_IO: ${String(error)}`);
  return error;
}

describe('stateOpenError', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pop3-bridge-open-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a native module that is not a shared object (ERR_DLOPEN_FAILED) is named as the driver, with the fix', async () => {
    const fake = join(dir, 'better_sqlite3.node');
    await writeFile(fake, 'not an ELF file');
    const cause = thrown(() => new Database(':memory:', { nativeBinding: fake }));
    expect((cause as NodeJS.ErrnoException).code).toBe('ERR_DLOPEN_FAILED');
    expect(isDriverLoadFailure(cause)).toBe(true);
    const error = stateOpenError('/var/lib/bridge/state.db', cause);
    expect(error.code).toBe('STATE_ERR_IO');
    expect(error.message).toContain('/var/lib/bridge/state.db');
    expect(error.message).toContain('Reinstall with this Node: `npm ci`');
    expect(error.message).toContain(process.version);
    expect(error.message).toContain(`${sqliteDriverFor()}'s native module`);
    expect(error.cause).toBe(cause);
  });

  it('no build found by `bindings` (the install script never ran) is named as the driver', () => {
    const cause = thrown(() =>
      (require('bindings') as (options: object) => unknown)({ bindings: 'better_sqlite3.node', module_root: dir }),
    );
    expect((cause as Error).message).toMatch(/^Could not locate the bindings file/);
    expect(stateOpenError('state.db', cause).message).toContain('Reinstall with this Node: `npm ci`');
  });

  it('a missing native module file is named as the driver', () => {
    const cause = thrown(() => new Database(':memory:', { nativeBinding: join(dir, 'better_sqlite3.node') }));
    expect((cause as NodeJS.ErrnoException).code).toBe('MODULE_NOT_FOUND');
    expect(stateOpenError('state.db', cause).message).toContain('Reinstall with this Node: `npm ci`');
  });

  it('a path SQLite cannot open names the file and SQLite code, not the driver', async () => {
    const notADir = join(dir, 'file');
    await writeFile(notADir, '');
    const error = openingFails(join(notADir, 'state.db'));
    expect(error.message).toBe(`cannot open state database ${join(notADir, 'state.db')} (SQLITE_CANTOPEN)`);
  });

  it('a file that is not a database says SQLITE_NOTADB', async () => {
    const file = join(dir, 'state.db');
    await writeFile(file, Buffer.alloc(4096, 0x41));
    expect(openingFails(file).message).toBe(`cannot open state database ${file} (SQLITE_NOTADB)`);
  });

  it('prints a code only when it is an identifier; passes BridgeErrors through', () => {
    const odd = Object.assign(new Error('secret-looking detail'), { code: 'not an identifier: x' });
    expect(stateOpenError('state.db', odd).message).toBe('cannot open state database state.db');
    expect(stateOpenError('state.db', 'a string').message).toBe('cannot open state database state.db');
    const own = new BridgeError('STORE_ERR_IO', 'already typed');
    expect(stateOpenError('state.db', own)).toBe(own);
  });
});
