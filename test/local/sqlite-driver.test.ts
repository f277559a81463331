/**
 * Which better-sqlite3 build each Node gets (functions/local/sqlite-driver.ts): 12 on Node 20 (13 segfaults
 * there), 13 from Node 22 on (12 aborts on Node 24 when a statement is garbage-collected). CI runs this file
 * on Node 20 and, through scripts/test-on-node-lts.sh, on Node 26.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { Database, sqliteDriverFor } from '../../functions/local/sqlite-driver.js';

const require = createRequire(import.meta.url);

describe('sqlite driver', () => {
  it('12 for Node 20, 13 from Node 22 on', () => {
    expect(sqliteDriverFor('20.11.0')).toBe('better-sqlite3');
    expect(sqliteDriverFor('20.20.2')).toBe('better-sqlite3');
    expect(sqliteDriverFor('22.0.0')).toBe('better-sqlite3-13');
    expect(sqliteDriverFor('24.21.0')).toBe('better-sqlite3-13');
    expect(sqliteDriverFor('26.12.1')).toBe('better-sqlite3-13');
  });

  it('this process uses the build its Node gets, and it opens a database', () => {
    const name = sqliteDriverFor();
    expect(Database).toBe(require(name));
    const version = (require(`${name}/package.json`) as { version: string }).version;
    expect(version.split('.')[0]).toBe(name === 'better-sqlite3' ? '12' : '13');
    const db = new Database(':memory:');
    try {
      expect(db.prepare('select 1 + 1 as two').get()).toEqual({ two: 2 });
    } finally {
      db.close();
    }
  });
});
