import type BetterSqlite3 from 'better-sqlite3';

export type SqliteDatabase = BetterSqlite3.Database;

/**
 * Opens a database with better-sqlite3, loaded only when a figure needs it:
 * a native addon that npm ci compiles from source (package.json's
 * allowScripts lets its install script run).
 */
export async function openSqlite(file: string, options?: BetterSqlite3.Options): Promise<SqliteDatabase> {
  let Database: typeof BetterSqlite3;
  try {
    Database = (await import('better-sqlite3')).default;
  } catch (e) {
    throw new Error(
      `better-sqlite3 did not load (${e instanceof Error ? e.message : String(e)}). ` +
        'It is compiled by its install script during npm ci (needs g++, make, python3), which package.json allowScripts must allow; rerun npm ci.',
    );
  }
  return new Database(file, options);
}
