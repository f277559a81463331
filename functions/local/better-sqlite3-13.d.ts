// better-sqlite3 13 (installed under the alias `better-sqlite3-13`, see sqlite-driver.ts) ships no type
// declarations; its JavaScript API is the one @types/better-sqlite3 describes for 12.
declare module 'better-sqlite3-13' {
  import Database = require('better-sqlite3');
  export = Database;
}
