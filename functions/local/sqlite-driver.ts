/**
 * Which build of better-sqlite3 opens local mode's state database: 12.x on Node 20, 13.x on Node 22 and later.
 *
 * Why two: better-sqlite3 12 wraps its objects in Node's raw ObjectWrap, and on Node 24 (24.19 and later)
 * the garbage collector can destroy a Statement while no Node environment is current; its destructor then
 * aborts the process (`Assertion failed: (env) != nullptr` in `RemoveEnvironmentCleanupHook`). Reproduced
 * here: `test/local/sqlite-state-store.test.ts` aborted in 3 runs of 3 on Node 24.21 with 12.6.2 and with
 * 12.11.1, at a different test each time, and passes with 13.2.0 (reported upstream as WiseLibs/better-sqlite3
 * #1515 and by projects that hit it in production, several times an hour). 13.x moved to node-addon-api,
 * which does not have the bug, and ships prebuilt N-API binaries (no compiler needed) — but it requires
 * Node 22 and segfaults on Node 20 (a first query, checked on 20.20.2), the Node this project also supports.
 *
 * Both are installed (13.x under the alias `better-sqlite3-13`); each loads its native module only when a
 * database is opened, so importing both is safe on any Node. Their JavaScript APIs are the same for
 * everything the state store uses (prepare, run/get/all, transaction, pragma, close).
 */
import BetterSqlite3v12 from 'better-sqlite3';
import BetterSqlite3v13 from 'better-sqlite3-13';

/** The first Node major that gets better-sqlite3 13 (its `engines`: node >= 22). */
export const V13_FROM_NODE_MAJOR = 22;

export type SqliteDriverName = 'better-sqlite3' | 'better-sqlite3-13';

export function sqliteDriverFor(nodeVersion: string = process.versions.node): SqliteDriverName {
  const major = Number.parseInt(nodeVersion, 10);
  return major >= V13_FROM_NODE_MAJOR ? 'better-sqlite3-13' : 'better-sqlite3';
}

/** The Database constructor for this process's Node. */
export const Database: typeof BetterSqlite3v12 =
  sqliteDriverFor() === 'better-sqlite3-13' ? (BetterSqlite3v13 as typeof BetterSqlite3v12) : BetterSqlite3v12;
