#pragma once
// The one way clipscope's databases (the atlas and its word database, both in
// atlas.db) report SQLite failures: one line naming the database, with the
// system's reason when a system call failed (SQLite says only "disk I/O error"
// for, e.g., "File too large"). Header-only: the libraries that use it link
// SQLiteCpp themselves.
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <SQLiteCpp/VariadicBind.h>
#include <fmt/format.h>
#include <sqlite3.h>

#include <cstring>
#include <filesystem>
#include <string_view>

#include "core/util/error.h"

namespace clipscope {

// `e` as an Error naming `path`; `db` (may be null) gives the system's errno.
inline Error sqlite_error(const std::filesystem::path& path, SQLite::Database* db, const SQLite::Exception& e) {
  const int system_errno = db ? sqlite3_system_errno(db->getHandle()) : 0;
  const int code = e.getErrorCode() & 0xff;  // the primary code, whether or not SQLite gave an extended one
  const bool io = code == SQLITE_IOERR || code == SQLITE_FULL || code == SQLITE_CANTOPEN || code == SQLITE_READONLY;
  if (io && system_errno != 0)
    return Error(fmt::format("{}: {} ({})", path.string(), e.what(), std::strerror(system_errno)));
  return Error(fmt::format("{}: {}", path.string(), e.what()));
}

// f(), with a SQLite failure rethrown as sqlite_error.
template <typename F>
auto sqlite_guarded(const std::filesystem::path& path, SQLite::Database* db, F&& f) {
  try {
    return f();
  } catch (const SQLite::Exception& e) {
    throw sqlite_error(path, db, e);
  }
}

// Runs `body` in one transaction: all of it is written or none. The error is
// described before the rollback, which forgets the system's reason.
template <typename F>
void sqlite_transaction(const std::filesystem::path& path, SQLite::Database& db, F&& body) {
  try {
    SQLite::Transaction t(db);
    try {
      body();
      t.commit();
    } catch (const SQLite::Exception& e) {
      throw sqlite_error(path, &db, e);
    }
  } catch (const SQLite::Exception& e) {  // beginning the transaction
    throw sqlite_error(path, &db, e);
  }
}

// Deletes the runs of table `runs` (with an integer `id` column) that `where` selects (SQL
// over its columns with a `?` for each of `values`, bound in order) and the rows of table
// `rows` that belong to them (its `run` column holds a run's id): how a stored result is
// replaced. Run it inside the caller's transaction, before inserting the new run.
template <typename... Values>
void delete_runs(SQLite::Database& db, std::string_view runs, std::string_view rows, std::string_view where,
                 const Values&... values) {
  SQLite::Statement drop_rows(
      db, fmt::format("DELETE FROM {} WHERE run IN (SELECT id FROM {} WHERE {})", rows, runs, where));
  SQLite::bind(drop_rows, values...);
  drop_rows.exec();
  SQLite::Statement drop_runs(db, fmt::format("DELETE FROM {} WHERE {}", runs, where));
  SQLite::bind(drop_runs, values...);
  drop_runs.exec();
}

}  // namespace clipscope
