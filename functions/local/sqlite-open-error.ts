/**
 * Why the local state database could not be opened, in words a user can act on and that are safe to print.
 *
 * The CLI prints a BridgeError's code and message, never its cause (causes are other libraries' errors and
 * may carry anything). So the message has to say what went wrong on its own:
 *
 * - better-sqlite3's native module did not load (sqlite-driver.ts says which build each Node uses). On Node 20
 *   it is compiled on install by the package's install script: npm 12 skips dependency install scripts that
 *   package.json's `allowScripts` does not approve (this repository approves it; a global install needs
 *   `--allow-scripts=better-sqlite3`), and a module built for one Node version does not load on another
 *   (NODE_MODULE_VERSION). On Node 22+ it is a prebuilt binary in the package, which a broken or foreign
 *   install can lack. Either way the fix is `npm ci` with the Node that runs the bridge. Without this, the
 *   user saw only "cannot open state database", which points at the file, not at the driver.
 * - Anything else (SQLITE_CANTOPEN, SQLITE_NOTADB, EACCES, ...): the file's name plus the error's code.
 *   A code is an identifier, never data, so it is safe to print where the cause's message is not.
 */
import { BridgeError, isBridgeError } from '../core/errors.js';
import { sqliteDriverFor } from './sqlite-driver.js';

/** An error code as libraries spell them (SQLITE_CANTOPEN, ENOSPC, ERR_DLOPEN_FAILED): nothing else is printed. */
const SAFE_CODE = /^[A-Z][A-Z0-9_]{1,39}$/;

export function isDriverLoadFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  // process.dlopen failed: built for another Node version (NODE_MODULE_VERSION), another platform, not a shared object.
  if (code === 'ERR_DLOPEN_FAILED') return true;
  // The `bindings` package found no build of better_sqlite3.node: the install script never ran, or failed.
  if (error.message.startsWith('Could not locate the bindings file')) return true;
  return code === 'MODULE_NOT_FOUND' && error.message.includes('better_sqlite3');
}

export function stateOpenError(file: string, error: unknown): BridgeError {
  if (isBridgeError(error)) return error;
  if (isDriverLoadFailure(error)) {
    return new BridgeError(
      'STATE_ERR_IO',
      `cannot open state database ${file}: the SQLite driver (${sqliteDriverFor()}'s native module) did not load ` +
        `in Node ${process.version}; it is missing or was built for another Node version. Reinstall with this ` +
        'Node: `npm ci`',
      { cause: error },
    );
  }
  const code = error instanceof Error ? (error as NodeJS.ErrnoException).code : undefined;
  const suffix = typeof code === 'string' && SAFE_CODE.test(code) ? ` (${code})` : '';
  return new BridgeError('STATE_ERR_IO', `cannot open state database ${file}${suffix}`, { cause: error });
}
