#include "storage/postgres_connection.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <type_traits>
#include <variant>

#include "core/log.hpp"

namespace office::storage {

namespace {

constexpr std::size_t kMaxLoggedSql = 300;

// Type OIDs of the columns we convert (pg_type.h).
constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kOidOid = 26;
constexpr Oid kFloat4Oid = 700;
constexpr Oid kFloat8Oid = 701;
constexpr Oid kNumericOid = 1700;

std::string_view clip(std::string_view sql) {
  return sql.size() <= kMaxLoggedSql ? sql : sql.substr(0, kMaxLoggedSql);
}

void quiet_notices(void*, const char*) {}  // NOTICEs (e.g. "relation already exists, skipping")

Value read_value(PGresult* res, int row, int col) {
  if (PQgetisnull(res, row, col)) return Value();
  const char* v = PQgetvalue(res, row, col);
  auto len = static_cast<std::size_t>(PQgetlength(res, row, col));
  switch (PQftype(res, col)) {
    case kInt8Oid:
    case kInt2Oid:
    case kInt4Oid:
    case kOidOid: {
      std::int64_t x = 0;
      std::from_chars(v, v + len, x);
      return Value(std::in_place_type<std::int64_t>, x);
    }
    case kBoolOid:
      return Value(std::in_place_type<std::int64_t>, len > 0 && v[0] == 't' ? 1 : 0);
    case kFloat4Oid:
    case kFloat8Oid:
    case kNumericOid:
      return Value(std::in_place_type<double>, std::strtod(v, nullptr));
    case kByteaOid: {
      std::size_t n = 0;
      unsigned char* raw = PQunescapeBytea(reinterpret_cast<const unsigned char*>(v), &n);
      Bytes b{raw ? std::string(reinterpret_cast<const char*>(raw), n) : std::string()};
      PQfreemem(raw);
      return Value(std::in_place_type<Bytes>, std::move(b));
    }
    default:
      return Value(std::in_place_type<std::string>, v, len);
  }
}

Row read_row(PGresult* res, int row) {
  int n = PQnfields(res);
  std::vector<Value> values;
  values.reserve(static_cast<std::size_t>(n));
  for (int c = 0; c < n; ++c) values.push_back(read_value(res, row, c));
  return Row(std::move(values));
}

// Text forms of the parameters (bytes go in binary); kept alive for the call.
struct BoundParams {
  explicit BoundParams(std::span<const Value> params) {
    const std::size_t n = params.size();
    text.resize(n);
    values.resize(n, nullptr);
    lengths.resize(n, 0);
    formats.resize(n, 0);
    for (std::size_t i = 0; i < n; ++i) {
      std::visit(
          [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::monostate>) {
              values[i] = nullptr;
            } else if constexpr (std::is_same_v<T, std::int64_t>) {
              text[i] = std::to_string(x);
              values[i] = text[i].c_str();
            } else if constexpr (std::is_same_v<T, double>) {
              if (std::isnan(x)) {
                text[i] = "NaN";
              } else if (std::isinf(x)) {
                text[i] = x > 0 ? "Infinity" : "-Infinity";
              } else {
                char buf[32];
                auto r = std::to_chars(buf, buf + sizeof buf, x);  // shortest round trip
                text[i].assign(buf, r.ptr);
              }
              values[i] = text[i].c_str();
            } else if constexpr (std::is_same_v<T, Bytes>) {
              values[i] = x.data.data();
              lengths[i] = static_cast<int>(x.data.size());
              formats[i] = 1;  // binary: bytea's raw bytes
            } else {
              values[i] = x.c_str();
            }
          },
          params[i]);
    }
  }
  std::vector<std::string> text;
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
};

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

}  // namespace

std::string rewrite_placeholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  std::size_t i = 0;
  const std::size_t n = sql.size();
  auto copy_until = [&](char end) {  // copies a quoted run, '' and "" escapes included
    out += sql[i++];
    while (i < n) {
      char c = sql[i++];
      out += c;
      if (c == end) {
        if (i < n && sql[i] == end) {
          out += sql[i++];
          continue;
        }
        return;
      }
    }
  };
  while (i < n) {
    char c = sql[i];
    if (c == '\'' || c == '"') {
      copy_until(c);
    } else if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
      while (i < n && sql[i] != '\n') out += sql[i++];
    } else if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
      std::size_t end = sql.find("*/", i + 2);
      end = end == std::string_view::npos ? n : end + 2;
      out.append(sql.substr(i, end - i));
      i = end;
    } else if (c == '?' && i + 1 < n && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
      out += '$';
      ++i;
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

Error map_postgres_error(std::string_view sqlstate, std::string_view message,
                         std::string_view sql) {
  if (sqlstate == "23505") return Error::exists("already exists");
  if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03" || sqlstate == "57014" ||
      sqlstate.starts_with("08")) {
    spdlog::warn("storage: postgres unavailable ({}): {} [sql: {}]", sqlstate, message, clip(sql));
    return Error::unavailable("database busy, retry later");
  }
  spdlog::error("storage: postgres error {}: {} [sql: {}]", sqlstate, message, clip(sql));
  return Error::internal("database error");
}

Result<std::unique_ptr<PgConnection>> PgConnection::open(const std::string& url,
                                                         std::size_t statement_cache_size) {
  char* parse_error = nullptr;
  PQconninfoOption* info = PQconninfoParse(url.c_str(), &parse_error);
  if (info == nullptr) {
    std::string why = parse_error ? parse_error : "malformed";
    PQfreemem(parse_error);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return Error::invalid("invalid PostgreSQL URL: " + why);
  }
  PQconninfoFree(info);
  PGconn* conn = PQconnectdb(url.c_str());
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    std::string why = conn ? PQerrorMessage(conn) : "out of memory";
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    spdlog::error("storage: cannot connect to PostgreSQL: {}", why);
    PQfinish(conn);
    return Error::unavailable("database cannot be reached");
  }
  PQsetNoticeProcessor(conn, quiet_notices, nullptr);
  std::unique_ptr<PgConnection> c(new PgConnection(conn, statement_cache_size));
  if (auto st = c->control("SET TIME ZONE 'UTC'"); !st) return st.error();
  return c;
}

PgConnection::~PgConnection() { PQfinish(conn_); }

bool PgConnection::in_transaction() const {
  auto s = PQtransactionStatus(conn_);
  return s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE;
}

bool PgConnection::in_failed_transaction() const {
  return PQtransactionStatus(conn_) == PQTRANS_INERROR;
}

bool PgConnection::broken() const { return PQstatus(conn_) != CONNECTION_OK; }

bool PgConnection::reset() {
  PQreset(conn_);
  lru_.clear();
  index_.clear();
  if (PQstatus(conn_) != CONNECTION_OK) return false;
  return control("SET TIME ZONE 'UTC'").ok();
}

Error PgConnection::fail(PGresult* res, std::string_view sql) {
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const char* msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  last_sqlstate_ = state ? state : "";
  if (last_sqlstate_.empty() && broken()) last_sqlstate_ = "08006";  // connection_failure
  std::string text = msg ? msg : PQerrorMessage(conn_);
  return map_postgres_error(last_sqlstate_, text, sql);
}

Result<const PgConnection::Entry*> PgConnection::prepared(std::string_view sql) {
  if (auto it = index_.find(sql); it != index_.end()) {
    if (it->second != lru_.begin()) lru_.splice(lru_.begin(), lru_, it->second);
    return &*it->second;
  }
  std::string name = "s" + std::to_string(next_statement_++);
  std::string text = rewrite_placeholders(sql);
  ResultPtr res(PQprepare(conn_, name.c_str(), text.c_str(), 0, nullptr));
  if (!res || PQresultStatus(res.get()) != PGRES_COMMAND_OK) return fail(res.get(), sql);
  // The number of parameters the statement takes, checked on every call (a
  // mismatch is the caller's bug, not a protocol error of the connection).
  ResultPtr desc(PQdescribePrepared(conn_, name.c_str()));
  if (!desc || PQresultStatus(desc.get()) != PGRES_COMMAND_OK) return fail(desc.get(), sql);
  lru_.push_front(Entry{std::string(sql), std::move(name), PQnparams(desc.get())});
  index_.emplace(lru_.front().sql, lru_.begin());
  std::size_t limit = cache_capacity_ == 0 ? 1 : cache_capacity_;
  while (lru_.size() > limit) {
    Entry& victim = lru_.back();
    // In a failed transaction DEALLOCATE fails too; the statement then lives
    // until the connection closes, which is harmless.
    ResultPtr dropped(PQexec(conn_, ("DEALLOCATE " + victim.name).c_str()));
    index_.erase(victim.sql);
    lru_.pop_back();
  }
  return &lru_.front();
}

PGresult* PgConnection::run(std::string_view sql, std::span<const Value> params,
                            std::optional<Error>* err) {
  auto entry = prepared(sql);
  if (!entry) {
    *err = std::move(entry).error();
    return nullptr;
  }
  if ((*entry)->params != static_cast<int>(params.size())) {
    spdlog::error("storage: parameter count does not match the placeholders [sql: {}]", clip(sql));
    *err = Error::internal("database error");
    return nullptr;
  }
  BoundParams p(params);
  PGresult* res = PQexecPrepared(conn_, (*entry)->name.c_str(), static_cast<int>(params.size()),
                                 p.values.data(), p.lengths.data(), p.formats.data(), 0);
  auto status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (status == PGRES_EMPTY_QUERY) {
    PQclear(res);
    spdlog::error("storage: empty SQL [sql: {}]", clip(sql));
    *err = Error::internal("database error");
    return nullptr;
  }
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    *err = fail(res, sql);
    PQclear(res);
    return nullptr;
  }
  last_sqlstate_.clear();
  return res;
}

Result<std::int64_t> PgConnection::exec(std::string_view sql, std::span<const Value> params) {
  std::optional<Error> err;
  ResultPtr res(run(sql, params, &err));
  if (!res) return std::move(*err);
  const char* n = PQcmdTuples(res.get());
  std::int64_t changed = 0;
  if (n && *n) std::from_chars(n, n + std::char_traits<char>::length(n), changed);
  return changed;
}

Result<std::vector<Row>> PgConnection::query(std::string_view sql, std::span<const Value> params) {
  std::optional<Error> err;
  ResultPtr res(run(sql, params, &err));
  if (!res) return std::move(*err);
  std::vector<Row> rows;
  int n = PQntuples(res.get());
  rows.reserve(static_cast<std::size_t>(n));
  for (int r = 0; r < n; ++r) rows.push_back(read_row(res.get(), r));
  return rows;
}

Result<std::optional<Row>> PgConnection::query_one(std::string_view sql,
                                                   std::span<const Value> params) {
  std::optional<Error> err;
  ResultPtr res(run(sql, params, &err));
  if (!res) return std::move(*err);
  std::optional<Row> row;
  if (PQntuples(res.get()) > 0) row.emplace(read_row(res.get(), 0));
  return row;
}

Status PgConnection::exec_script(std::string_view sql) { return simple(sql, /*detailed=*/true); }

Status PgConnection::control(std::string_view sql) { return simple(sql, /*detailed=*/false); }

Status PgConnection::simple(std::string_view sql, bool detailed) {
  std::string text(sql);
  ResultPtr res(PQexec(conn_, text.c_str()));
  auto status = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY) {
    last_sqlstate_.clear();
    return {};
  }
  const char* msg = res ? PQresultErrorField(res.get(), PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string detail = msg ? msg : PQerrorMessage(conn_);
  Error e = fail(res.get(), sql);
  if (detailed) e.message += ": " + detail;
  return e;
}

}  // namespace office::storage
