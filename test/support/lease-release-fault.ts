/**
 * A local-mode state database (`<dir>/state/state.db`, as the CLI opens it) whose lease release fails for one
 * mailbox: a real SQLite error, from a trigger, where pollMailbox cannot turn it into a failed result (its
 * `finally`), so the poll rejects. For the tests of what `run` and `poll` do then.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Database } from '../../functions/local/sqlite-driver.js';
import { SqliteStateStore } from '../../functions/local/sqlite-state-store.js';

export async function stateWithLeaseReleaseFault(dir: string, mailbox: string): Promise<string> {
  // Written into the trigger's SQL (triggers take no parameters): a test's own plain name only.
  if (!/^[a-z0-9-]+$/.test(mailbox)) throw new Error(`not a plain mailbox name: ${mailbox}`);
  await mkdir(path.join(dir, 'state'), { mode: 0o700 });
  const file = path.join(dir, 'state', 'state.db');
  await new SqliteStateStore(file).close();
  const db = new Database(file);
  db.prepare(
    `CREATE TRIGGER injected_release_fault BEFORE DELETE ON leases WHEN OLD.mailbox = '${mailbox}'
     BEGIN SELECT RAISE(ABORT, 'injected fault: lease release refused'); END`,
  ).run();
  db.close();
  return file;
}
