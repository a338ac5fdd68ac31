// ShareDB load generator (docs/benchmarks.md, "Documents: ShareDB load").
//
// Speaks ShareDB's wire protocol (JSON over WebSocket, protocol 1.2 as the
// npm client 7.x sends it) to any server that implements it: the stock
// ShareDB peer (bench/docs/sharedb_server.mjs) or office-suite's /sharedb.
//
//   sharedb_load --url ws://127.0.0.1:PORT/sharedb[?access_token=...]
//                [--docs M] [--editors K] [--rate E] [--duration S] [--warmup S]
//                [--threads T] [--create | --doc-ids FILE] [--server-pid PID]
//                [--label NAME] [--collection docs] [--seed N] [--doc-length L]
//                [--verify-editors V]
//                [--connect-window W] [--settle-ms MS] [--drain-s S]
//                [--token T [--token-in-query]] [--ramp K1,K2,... [--ramp-p99-ms 50]]
//
// --token sends "Authorization: Bearer T" with the WebSocket upgrade (or, with
// --token-in-query, appends access_token=T to the URL, as a browser must).
// --ramp runs one step per K (editors per document; --editors is ignored),
// each with fresh connections, and stops after the first step whose op-to-ack
// p99 exceeds --ramp-p99-ms or that has errors; a last JSON line gives the
// largest K that stayed within it.
//
// M documents, K editors (WebSocket connections) on each. Every connection
// does the handshake ({"a":"hs",...}), then subscribes to its document
// ({"a":"s",...}); with --create the first editor of each document creates it
// ({"a":"op","create":{"type":text-unicode,"data":""}}) before the others
// subscribe, otherwise the ids come from --doc-ids (one per line, documents
// that exist). Then each editor makes E edits per second at random positions
// (insert one code point, sometimes a non-BMP one, or delete one), for
// warm-up + duration seconds, open loop: an edit is made when it is due,
// whatever the server does.
//
// Each editor keeps the client discipline of ShareDB's Doc: the edit is applied
// to its local text at once; at most one op is in flight; edits made while one
// is in flight are composed into one pending op, sent when the ack arrives;
// a remote op is transformed against the in-flight and pending ops
// (transformX: ours 'left', theirs 'right') and applied. The OT is
// office::ot (text-unicode, exact), so every local text must converge: at the
// end, after every op is acknowledged and delivered, the generator fetches
// each document ({"a":"f"}) and compares every editor's text and version with
// it.
//
// Figures (one JSON line on stdout; a summary on stderr), over the measured
// window (after the warm-up): edits, ops submitted and acknowledged per
// second; op-to-ack latency (an op's send to its ack), edit-to-ack (the oldest
// edit composed into the op to its ack), op-to-broadcast (an op's send to its
// arrival at each other editor of the document: one sample per delivery);
// p50/p90/p99/max; the generator's lag behind its schedule; errors; CPU
// seconds of the server (/proc/PID/stat) and of this process (getrusage) over
// the window;
// the server's RSS at start, after the connections, after the subscriptions
// and at the end (per idle connection = the connection step / connections;
// per open document = the subscription step / documents).
//
// Exit status: 0 when there were no errors and every document converged.
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ot/document.hpp"
#include "ot/op.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace ot = office::ot;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kTextUnicodeUri = "http://sharejs.org/types/text-unicode";

const Clock::time_point g_epoch = Clock::now();
std::uint64_t now_us() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - g_epoch).count());
}

// --- process figures ------------------------------------------------------------

// CPU time (user + system) of a process so far, in seconds.
double cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = stat.rfind(')');  // the command name may contain spaces
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string f;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i)
    if (i == 14 || i == 15) ticks += std::stod(f);  // utime, stime
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// CPU time (user + system) of this process so far, in seconds.
double self_cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

long rss_kib(int pid) {
  if (pid <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return "[" + a + "," + b + "," + c + "]";
}

// --- latency histogram ------------------------------------------------------------

// Log-linear buckets over microseconds: exact below 128 us, then 64 buckets per
// power of two (under 1.6% error). No allocation after construction.
class Histogram {
 public:
  static constexpr int kSub = 64;
  Histogram() : counts_(static_cast<std::size_t>(2 * kSub + 58 * kSub), 0) {}
  static std::size_t index(std::uint64_t v) {
    if (v < 2 * kSub) return static_cast<std::size_t>(v);
    const auto msb = static_cast<std::size_t>(63 - std::countl_zero(v));
    const std::size_t shift = msb - 6;  // v >> shift in [64, 127]
    constexpr auto sub = static_cast<std::size_t>(kSub);
    return 2 * sub + (shift - 1) * sub + static_cast<std::size_t>((v >> shift) - sub);
  }
  static double value(std::size_t i) {  // middle of bucket i
    if (i < 2 * kSub) return static_cast<double>(i);
    const std::size_t shift = (i - 2 * kSub) / kSub + 1;
    const std::uint64_t top = (i - 2 * kSub) % kSub + kSub;
    return (static_cast<double>(top) + 0.5) * static_cast<double>(std::uint64_t{1} << shift);
  }
  void add(std::uint64_t us) {
    ++counts_[std::min(index(us), counts_.size() - 1)];
    ++n_;
    max_ = std::max(max_, us);
  }
  void merge(const Histogram& o) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    n_ += o.n_;
    max_ = std::max(max_, o.max_);
  }
  std::uint64_t count() const { return n_; }
  double percentile_ms(double q) const {
    if (n_ == 0) return 0;
    const auto want = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(n_)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= std::max<std::uint64_t>(want, 1))
        return std::min(value(i), static_cast<double>(max_)) / 1000.0;
    }
    return static_cast<double>(max_) / 1000.0;
  }
  std::string json() const {
    char b[200];
    std::snprintf(b, sizeof b, R"({"n":%llu,"p50":%.3f,"p90":%.3f,"p99":%.3f,"max":%.3f})",
                  static_cast<unsigned long long>(n_), percentile_ms(0.5), percentile_ms(0.9),
                  percentile_ms(0.99), static_cast<double>(max_) / 1000.0);
    return b;
  }

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t n_ = 0, max_ = 0;
};

// --- JSON ---------------------------------------------------------------------------

void append_escaped(std::string& out, std::string_view s) {
  out += '"';
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.substr(run, i - run));
    run = i + 1;
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      out += b;
    }
  }
  out.append(s.substr(run));
  out += '"';
}

void append_op(std::string& out, const ot::Op& op) {
  out += '[';
  bool first = true;
  for (const auto& c : op) {
    if (!first) out += ',';
    first = false;
    if (c.is_skip()) {
      out += std::to_string(c.len);
    } else if (c.is_insert()) {
      append_escaped(out, c.text);
    } else {
      out += "{\"d\":";
      out += std::to_string(c.len);
      out += '}';
    }
  }
  out += ']';
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// A small pull parser over one message: enough JSON to read ShareDB's
// messages without building a DOM (the generator parses every broadcast).
class JsonReader {
 public:
  explicit JsonReader(std::string_view s) : p_(s.data()), e_(s.data() + s.size()) {}
  bool ok() const { return ok_; }
  bool fail() { return ok_ = false; }
  char peek() {
    ws();
    return p_ < e_ ? *p_ : '\0';
  }
  bool eat(char c) {
    ws();
    if (p_ < e_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }
  bool expect(char c) { return eat(c) || fail(); }
  bool null() {
    ws();
    if (e_ - p_ >= 4 && std::memcmp(p_, "null", 4) == 0) {
      p_ += 4;
      return true;
    }
    return false;
  }
  // A string: a view into the input when it has no escapes, else unescaped
  // into `scratch` (and the view refers to scratch).
  bool string(std::string_view& out, std::string& scratch) {
    if (!expect('"')) return false;
    const char* start = p_;
    // memchr (vectorised) for the closing quote, then for a backslash before it.
    const auto* q =
        static_cast<const char*>(std::memchr(p_, '"', static_cast<std::size_t>(e_ - p_)));
    if (q == nullptr) return fail();
    const auto* bs =
        static_cast<const char*>(std::memchr(p_, '\\', static_cast<std::size_t>(q - p_)));
    p_ = bs != nullptr ? bs : q;
    if (*p_ == '"') {
      out = std::string_view(start, static_cast<std::size_t>(p_ - start));
      ++p_;
      return true;
    }
    scratch.assign(start, p_);
    while (p_ < e_ && *p_ != '"') {
      if (*p_ != '\\') {
        scratch += *p_++;
        continue;
      }
      if (++p_ >= e_) return fail();
      const char c = *p_++;
      switch (c) {
        case 'n':
          scratch += '\n';
          break;
        case 't':
          scratch += '\t';
          break;
        case 'r':
          scratch += '\r';
          break;
        case 'b':
          scratch += '\b';
          break;
        case 'f':
          scratch += '\f';
          break;
        case 'u': {
          std::uint32_t cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00) {
            std::uint32_t lo = 0;
            if (e_ - p_ < 6 || p_[0] != '\\' || p_[1] != 'u') return fail();
            p_ += 2;
            if (!hex4(lo) || lo < 0xDC00 || lo > 0xDFFF) return fail();
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          append_utf8(scratch, cp);
          break;
        }
        default:
          scratch += c;
      }
    }
    if (p_ >= e_) return fail();
    ++p_;
    out = scratch;
    return true;
  }
  bool number(double& out) {
    ws();
    // Integers (versions, seqs, ops' skips) without strtod.
    const char* q = p_;
    const bool neg = q < e_ && *q == '-';
    if (neg) ++q;
    std::int64_t v = 0;
    const char* digits = q;
    while (q < e_ && *q >= '0' && *q <= '9' && q - digits < 18) v = v * 10 + (*q++ - '0');
    if (q > digits &&
        (q == e_ || (*q != '.' && *q != 'e' && *q != 'E' && (*q < '0' || *q > '9')))) {
      out = static_cast<double>(neg ? -v : v);
      p_ = q;
      return true;
    }
    char* end = nullptr;
    out = std::strtod(p_, &end);
    if (end == p_ || end > e_) return fail();
    p_ = end;
    return true;
  }
  bool integer(std::int64_t& out) {
    double d = 0;
    if (!number(d)) return false;
    out = static_cast<std::int64_t>(d);
    return true;
  }
  // Skips any value.
  bool skip() {
    const char c = peek();
    if (c == '"') {
      std::string_view v;
      return string(v, skip_scratch_);
    }
    if (c == '{' || c == '[') {
      ++p_;
      const char close = c == '{' ? '}' : ']';
      if (eat(close)) return true;
      do {
        if (c == '{') {
          std::string_view k;
          if (!string(k, skip_scratch_) || !expect(':')) return false;
        }
        if (!skip()) return false;
      } while (eat(','));
      return expect(close);
    }
    if (null()) return true;
    if (c == 't' || c == 'f') {
      const std::size_t n = c == 't' ? 4 : 5;
      if (static_cast<std::size_t>(e_ - p_) < n) return fail();
      p_ += n;
      return true;
    }
    double d = 0;
    return number(d);
  }
  // Calls on_key(key) for each member; on_key must consume the value.
  template <class F>
  bool object(F&& on_key) {
    if (!expect('{')) return false;
    if (eat('}')) return true;
    do {
      std::string_view k;
      if (!string(k, key_scratch_) || !expect(':')) return false;
      // on_key compares the key before it parses the value (which may reuse the scratch).
      if (!on_key(k)) return fail();
    } while (eat(','));
    return expect('}');
  }

 private:
  void ws() {
    while (p_ < e_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  bool hex4(std::uint32_t& cp) {
    if (e_ - p_ < 4) return fail();
    for (int i = 0; i < 4; ++i) {
      const char h = *p_++;
      cp <<= 4;
      if (h >= '0' && h <= '9')
        cp |= static_cast<std::uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f')
        cp |= static_cast<std::uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        cp |= static_cast<std::uint32_t>(h - 'A' + 10);
      else
        return fail();
    }
    return true;
  }
  const char* p_;
  const char* e_;
  bool ok_ = true;
  std::string skip_scratch_, key_scratch_;
};

// The fields of a ShareDB message the generator uses. Reused across messages
// (string views point into the read buffer or the scratch strings).
struct Message {
  std::string_view a, src, id, error_code, error_message;
  std::int64_t seq = -1, v = -1;
  bool has_op = false, has_create = false, has_error = false, has_data = false;
  ot::Op op;
  // "data" of a subscribe/fetch reply: {v, data, type}
  std::int64_t data_v = -1;
  bool data_has_type = false, data_has_text = false;
  std::string_view data_text;
  std::string s_a, s_src, s_id, s_code, s_msg, s_text, s_type, s_ins;

  void clear() {
    a = src = id = error_code = error_message = data_text = {};
    seq = v = data_v = -1;
    has_op = has_create = has_error = has_data = data_has_type = data_has_text = false;
    op.clear();
  }
};

bool parse_op(JsonReader& r, Message& m) {
  if (!r.expect('[')) return false;
  if (r.eat(']')) return true;
  do {
    const char c = r.peek();
    if (c == '"') {
      std::string_view s;
      if (!r.string(s, m.s_ins)) return false;
      m.op.push_back(ot::Component::insert(s));
    } else if (c == '{') {
      std::int64_t n = -1;
      std::string_view text;
      bool ok = r.object([&](std::string_view k) {
        if (k != "d") return r.skip();
        if (r.peek() == '"') return r.string(text, m.s_ins);
        return r.integer(n);
      });
      if (!ok) return false;
      m.op.push_back(n >= 0 ? ot::Component::del(static_cast<std::uint64_t>(n))
                            : ot::Component::del_text(text));
    } else {
      std::int64_t n = 0;
      if (!r.integer(n) || n <= 0) return r.fail();
      m.op.push_back(ot::Component::skip(static_cast<std::uint64_t>(n)));
    }
  } while (r.eat(','));
  return r.expect(']');
}

bool parse_message(std::string_view text, Message& m) {
  m.clear();
  JsonReader r(text);
  return r.object([&](std::string_view k) -> bool {
    // The keys of an op message first, by length and first byte.
    if (k.size() == 1 && k[0] == 'a') return r.string(m.a, m.s_a);
    if (k.size() == 1 && (k[0] == 'c' || k[0] == 'd')) return r.skip();
    if (k.size() == 1 && k[0] == 'v') return r.null() || r.integer(m.v);
    if (k.size() == 3 && k[0] == 's' && k == "src") return r.null() || r.string(m.src, m.s_src);
    if (k.size() == 3 && k[0] == 's' && k == "seq") return r.null() || r.integer(m.seq);
    if (k.size() == 2 && k[0] == 'o' && k[1] == 'p') {
      m.has_op = true;
      return parse_op(r, m);
    }
    if (k == "a") return r.string(m.a, m.s_a);
    if (k == "src") return r.null() || r.string(m.src, m.s_src);
    if (k == "id") return r.null() || r.string(m.id, m.s_id);
    if (k == "seq") return r.null() || r.integer(m.seq);
    if (k == "v") return r.null() || r.integer(m.v);
    if (k == "op") {
      m.has_op = true;
      return parse_op(r, m);
    }
    if (k == "create") {
      m.has_create = true;
      return r.skip();
    }
    if (k == "error") {
      m.has_error = true;
      if (r.peek() != '{') return r.string(m.error_message, m.s_msg);
      return r.object([&](std::string_view ek) {
        if (ek == "code" && r.peek() == '"') return r.string(m.error_code, m.s_code);
        if (ek == "message" && r.peek() == '"') return r.string(m.error_message, m.s_msg);
        return r.skip();
      });
    }
    if (k == "data") {
      m.has_data = true;
      if (r.null()) return true;
      return r.object([&](std::string_view dk) {
        if (dk == "v") return r.null() || r.integer(m.data_v);
        if (dk == "type") {
          if (r.null()) return true;
          std::string_view t;
          m.data_has_type = true;
          return r.string(t, m.s_type);
        }
        if (dk == "data") {
          if (r.peek() != '"') return r.skip();
          m.data_has_text = true;
          return r.string(m.data_text, m.s_text);
        }
        return r.skip();
      });
    }
    return r.skip();
  });
}

// --- options ------------------------------------------------------------------------

struct Options {
  std::string host = "127.0.0.1";
  std::string port;
  std::string target = "/sharedb";
  std::size_t docs = 1, editors = 10;
  double rate = 5, duration = 10, warmup = 2;
  std::size_t threads = 1;
  bool create = false;
  std::string doc_ids_file;
  int server_pid = 0;
  std::string label = "server";
  std::string collection = "docs";
  std::uint64_t seed = 1;
  std::uint64_t doc_length = 2000;
  // Editors per document that keep the text (and check it at the end); the
  // others keep only its length. Every editor runs the client's OT on its ops.
  std::size_t verify_editors = 8;
  std::size_t connect_window = 128;
  int settle_ms = 1000;
  double drain_s = 30;
  std::string token;              // access token: "Authorization: Bearer" on the upgrade
  bool token_in_query = false;    // ... or ?access_token= on the URL (browsers cannot set headers)
  std::vector<std::size_t> ramp;  // editors per document, one step each
  double ramp_p99_ms = 50;  // the ramp stops after the first step whose op-to-ack p99 exceeds this
};

// --- the load generator ------------------------------------------------------------

constexpr std::size_t kRing = 256;  // send times of an editor's recent ops
constexpr int kSeqShift = 40;       // ring entry: seq (24 bits) << 40 | send time (us)

struct alignas(64) Counters {
  std::atomic<std::uint64_t> sent{0}, acked{0}, applied{0};
};

struct Stats {  // one per worker thread, merged at the end
  Histogram ack, edit_ack, broadcast, lag;
  std::uint64_t edits = 0, ops_sent = 0, ops_acked = 0, deliveries = 0, bytes_sent = 0,
                bytes_received = 0, messages_received = 0;
  std::uint64_t err_op = 0, err_gap = 0, err_ack_version = 0, err_transform = 0, err_parse = 0,
                err_closed = 0, err_connect = 0, err_other = 0, unmatched_broadcast = 0,
                duplicates = 0;
  void merge(const Stats& o) {
    ack.merge(o.ack);
    edit_ack.merge(o.edit_ack);
    broadcast.merge(o.broadcast);
    lag.merge(o.lag);
    edits += o.edits;
    ops_sent += o.ops_sent;
    ops_acked += o.ops_acked;
    deliveries += o.deliveries;
    bytes_sent += o.bytes_sent;
    bytes_received += o.bytes_received;
    messages_received += o.messages_received;
    err_op += o.err_op;
    err_gap += o.err_gap;
    err_ack_version += o.err_ack_version;
    err_transform += o.err_transform;
    err_parse += o.err_parse;
    err_closed += o.err_closed;
    err_connect += o.err_connect;
    err_other += o.err_other;
    unmatched_broadcast += o.unmatched_broadcast;
    duplicates += o.duplicates;
  }
  std::uint64_t errors() const {
    return err_op + err_gap + err_ack_version + err_transform + err_parse + err_closed +
           err_connect + err_other;
  }
};

class Bench;
struct Worker;

class Editor : public std::enable_shared_from_this<Editor> {
 public:
  Editor(Worker& w, Bench& b, std::size_t index, std::size_t doc, bool first);

  void connect();
  void subscribe();
  void start_editing(Clock::time_point first_due);
  void stop_editing();
  void fetch();

  // Read by the main thread only after the worker threads have stopped
  // (or, for src, after the release/acquire of the connected counter).
  std::string src;
  std::int64_t version = -1;
  ot::Document text;         // the first verify_editors editors of a document
  std::uint64_t length = 0;  // code points, every editor
  bool verify = true;        // keeps `text`
  bool broken = false;
  bool fetched = false;
  std::int64_t fetched_version = -1;
  std::string fetched_text;
  const std::size_t index, doc;
  const bool first;  // first editor of its document (creates it, fetches at the end)
  std::array<std::atomic<std::uint64_t>, kRing> ring{};

 private:
  void read();
  void on_message(std::string_view frame);
  void on_op(const Message& m);
  void on_ack(const Message& m);
  void on_remote(Message& m);
  void on_timer();
  void edit();
  void send_inflight();
  void send(std::string_view msg, unsigned opcode = 0x1);
  void write_next();
  bool on_bytes(const char* p, std::size_t n);
  void set_text(std::string_view t);
  bool apply_remote(const ot::Op& op);
  void fail(std::uint64_t Stats::*counter, std::string_view what);

  Worker& w_;
  Bench& b_;
  websocket::stream<tcp::socket> ws_;
  beast::flat_buffer rbuf_;
  websocket::response_type upgrade_;  // the server's answer to the upgrade (its status on refusal)
  // After the handshake the editor frames its own messages on the socket (a
  // server that batches many frames into one write is read with one recv).
  std::string rpart_;    // a partial frame
  std::string out_;      // framed, waiting to be written
  std::string writing_;  // being written
  bool write_busy_ = false;
  bool subscribed_ = false;
  bool creating_ = false;
  bool editing_ = false;
  asio::steady_timer timer_;
  Clock::time_point next_due_{};
  Clock::duration period_{};
  std::mt19937_64 rng_;

  ot::Op inflight_, pending_, t1_, t2_;
  bool has_inflight_ = false, has_pending_ = false;
  std::uint64_t inflight_seq_ = 0, inflight_sent_us_ = 0, inflight_first_edit_us_ = 0;
  std::uint64_t pending_first_edit_us_ = 0;
  std::uint64_t next_seq_ = 1;
  std::string json_;
};

struct Worker {
  asio::io_context ioc{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard{ioc.get_executor()};
  std::thread thread;
  Stats stats;
  Counters counters;
  Message msg;  // reused by every message this thread parses
  std::vector<std::shared_ptr<Editor>> editors;
  std::size_t next_connect = 0;
  void connect_next() {
    if (next_connect < editors.size()) editors[next_connect++]->connect();
  }
};

class Bench {
 public:
  explicit Bench(Options o) : opt(std::move(o)) {}

  Options opt;
  std::vector<std::string> doc_ids;
  tcp::endpoint endpoint;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::shared_ptr<Editor>> editors;  // index = doc * K + i
  // Looked up for every delivery: hashes the last 16 bytes of the id only
  // (ids end in random or MAC bytes), equality still compares all of it.
  struct SuffixHash {
    std::size_t operator()(std::string_view s) const {
      return std::hash<std::string_view>()(s.size() > 16 ? s.substr(s.size() - 16) : s);
    }
  };
  std::unordered_map<std::string_view, Editor*, SuffixHash> by_src;
  std::atomic<bool> by_src_ready{false};
  std::uint64_t window_start_us = ~0ULL, window_end_us = ~0ULL;
  Clock::time_point edit_end{};

  std::atomic<std::size_t> connected{0}, subscribed{0}, fetched{0}, failed{0};

  bool in_window(std::uint64_t us) const { return us >= window_start_us && us < window_end_us; }
  const Editor* sender(std::string_view src) const {
    if (!by_src_ready.load(std::memory_order_acquire)) return nullptr;
    auto it = by_src.find(src);
    return it == by_src.end() ? nullptr : it->second;
  }
};

Editor::Editor(Worker& w, Bench& b, std::size_t index_, std::size_t doc_, bool first_)
    : index(index_),
      doc(doc_),
      first(first_),
      w_(w),
      b_(b),
      ws_(w.ioc),
      timer_(w.ioc),
      rng_(b.opt.seed * 1'000'003 + index_) {
  verify = index_ % b.opt.editors < b.opt.verify_editors;
}

void Editor::set_text(std::string_view t) {
  if (verify) text = ot::Document(t);
  length = 0;
  for (char c : t) length += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
}

bool Editor::apply_remote(const ot::Op& op) {
  if (verify) {
    if (auto st = text.apply(op); !st.ok()) {
      fail(&Stats::err_transform, "apply failed: " + st.error().message);
      return false;
    }
    length = text.length();
    return true;
  }
  for (const auto& c : op) {
    if (c.is_insert()) {
      length += c.len;
    } else if (c.is_delete()) {
      length -= c.len;
    }
  }
  return true;
}

void Editor::fail(std::uint64_t Stats::*counter, std::string_view what) {
  ++(w_.stats.*counter);
  if (b_.failed.fetch_add(1) < 10)
    std::cerr << "sharedb_load: editor " << index << " (doc " << b_.doc_ids[doc] << "): " << what
              << "\n";
  broken = true;
  editing_ = false;
  timer_.cancel();
}

void Editor::connect() {
  ws_.next_layer().async_connect(b_.endpoint, [self = shared_from_this()](beast::error_code ec) {
    if (ec) {
      self->fail(&Stats::err_connect, "connect: " + ec.message());
      self->w_.connect_next();
      return;
    }
    self->ws_.next_layer().set_option(tcp::no_delay(true));
    self->ws_.auto_fragment(false);
    self->ws_.read_message_max(64 * 1024 * 1024);
    self->ws_.text(true);
    if (!self->b_.opt.token.empty() && !self->b_.opt.token_in_query)
      self->ws_.set_option(websocket::stream_base::decorator(
          [token = self->b_.opt.token](websocket::request_type& req) {
            req.set(beast::http::field::authorization, "Bearer " + token);
          }));
    self->ws_.async_handshake(
        self->upgrade_, self->b_.opt.host + ":" + self->b_.opt.port, self->b_.opt.target,
        [self](beast::error_code ec2) {
          if (ec2) {
            const unsigned status = self->upgrade_.result_int();
            self->fail(&Stats::err_connect,
                       "WebSocket handshake: " + ec2.message() +
                           (status ? " (HTTP " + std::to_string(status) + ")" : std::string()));
            self->w_.connect_next();
            return;
          }
          beast::error_code nb;
          self->ws_.next_layer().non_blocking(true, nb);
          // What the npm client sends first (Connection._initializeHandshake).
          self->send(R"({"a":"hs","id":null,"protocol":1,"protocolMinor":2})");
          self->read();
        });
  });
}

void Editor::read() {
  ws_.next_layer().async_wait(
      tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
        if (ec) {
          if (!self->broken && ec != asio::error::operation_aborted)
            self->fail(&Stats::err_closed, "read: " + ec.message());
          return;
        }
        static thread_local char buf[256 * 1024];
        while (true) {
          const ssize_t n = ::recv(self->ws_.next_layer().native_handle(), buf, sizeof buf, 0);
          if (n < 0 && errno == EINTR) continue;
          if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
          if (n <= 0) {
            if (!self->broken)
              self->fail(&Stats::err_closed, n == 0 ? "read: the server closed the connection"
                                                    : std::string("read: ") + std::strerror(errno));
            return;
          }
          self->w_.stats.bytes_received += static_cast<std::uint64_t>(n);
          if (!self->on_bytes(buf, static_cast<std::size_t>(n))) return;
          if (static_cast<std::size_t>(n) < sizeof buf) break;
        }
        self->read();
      });
}

// Server frames: never masked, one per message (the server does not fragment).
bool Editor::on_bytes(const char* p, std::size_t n) {
  std::string_view in(p, n);
  if (!rpart_.empty()) {
    rpart_.append(p, n);
    in = rpart_;
  }
  std::size_t at = 0;
  while (in.size() - at >= 2) {
    const auto b0 = static_cast<unsigned char>(in[at]);
    const auto b1 = static_cast<unsigned char>(in[at + 1]);
    std::size_t hl = 2;
    std::uint64_t len = b1 & 0x7F;
    if (len == 126) hl = 4;
    if (len == 127) hl = 10;
    if (in.size() - at < hl) break;
    if (hl == 4)
      len = (std::uint64_t{static_cast<unsigned char>(in[at + 2])} << 8) |
            static_cast<unsigned char>(in[at + 3]);
    if (hl == 10) {
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<unsigned char>(in[at + 2 + i]);
    }
    if ((b1 & 0x80) || (b0 & 0x80) == 0 || len > (64u << 20)) {
      fail(&Stats::err_other, "a server frame this client does not expect (masked or fragmented)");
      return false;
    }
    if (in.size() - at - hl < len) break;
    const std::string_view payload = in.substr(at + hl, static_cast<std::size_t>(len));
    at += hl + static_cast<std::size_t>(len);
    switch (b0 & 0x0F) {
      case 0x1:
        ++w_.stats.messages_received;
        on_message(payload);
        if (broken) return false;
        break;
      case 0x9:
        send(payload, 0xA);  // pong
        break;
      case 0x8: {
        const unsigned code = payload.size() >= 2 ? (static_cast<unsigned char>(payload[0]) << 8) |
                                                        static_cast<unsigned char>(payload[1])
                                                  : 1005;
        if (!broken) fail(&Stats::err_closed, "the server closed with " + std::to_string(code));
        return false;
      }
      default:
        break;  // pong, binary: nothing for us
    }
  }
  if (rpart_.empty()) {
    rpart_.assign(in.substr(at));
  } else {
    rpart_.erase(0, at);
  }
  return true;
}

// One masked client frame per message, appended to what waits to be written.
void Editor::send(std::string_view msg, unsigned opcode) {
  w_.stats.bytes_sent += msg.size();
  const std::size_t n = msg.size();
  out_.push_back(static_cast<char>(0x80 | opcode));
  if (n < 126) {
    out_.push_back(static_cast<char>(0x80 | n));
  } else if (n <= 0xFFFF) {
    out_.push_back(static_cast<char>(0x80 | 126));
    out_.push_back(static_cast<char>(n >> 8));
    out_.push_back(static_cast<char>(n & 0xFF));
  } else {
    out_.push_back(static_cast<char>(0x80 | 127));
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>(std::uint64_t{n} >> (56 - 8 * i)));
  }
  const auto key = static_cast<std::uint32_t>(rng_());
  unsigned char k[4];
  std::memcpy(k, &key, 4);
  out_.append(reinterpret_cast<const char*>(k), 4);
  const std::size_t start = out_.size();
  out_.append(msg);
  for (std::size_t i = 0; i < n; ++i)
    out_[start + i] = static_cast<char>(out_[start + i] ^ k[i & 3]);
  if (!write_busy_) write_next();
}

void Editor::write_next() {
  if (out_.empty()) {
    write_busy_ = false;
    return;
  }
  write_busy_ = true;
  writing_.swap(out_);
  out_.clear();
  asio::async_write(ws_.next_layer(), asio::buffer(writing_),
                    [self = shared_from_this()](beast::error_code ec, std::size_t) {
                      if (ec) {
                        if (!self->broken) self->fail(&Stats::err_closed, "write: " + ec.message());
                        return;
                      }
                      self->writing_.clear();
                      self->write_next();
                    });
}

void Editor::subscribe() {
  if (broken) return;
  json_.clear();
  json_ += R"({"a":"s","c":)";
  append_escaped(json_, b_.opt.collection);
  json_ += ",\"d\":";
  append_escaped(json_, b_.doc_ids[doc]);
  json_ += R"(,"v":null})";
  send(json_);
}

void Editor::fetch() {
  if (broken) return;
  json_.clear();
  json_ += R"({"a":"f","c":)";
  append_escaped(json_, b_.opt.collection);
  json_ += ",\"d\":";
  append_escaped(json_, b_.doc_ids[doc]);
  json_ += R"(,"v":null})";
  send(json_);
}

void Editor::on_message(std::string_view frame) {
  Message& m = w_.msg;
  if (!parse_message(frame, m)) {
    fail(&Stats::err_parse, "unparsable message: " + std::string(frame.substr(0, 200)));
    return;
  }
  if (m.a == "op") return on_op(m);
  if (m.a == "init") return;  // the server's legacy greeting; the client answers with hs
  if (m.has_error) {
    fail(&Stats::err_other, "error reply to '" + std::string(m.a) + "': " +
                                std::string(m.error_code) + " " + std::string(m.error_message));
    return;
  }
  if (m.a == "hs") {
    src.assign(m.id);
    b_.connected.fetch_add(1, std::memory_order_release);
    w_.connect_next();
    return;
  }
  if (m.a == "s") {
    if (!m.has_data) return fail(&Stats::err_other, "subscribe reply without a snapshot");
    version = m.data_v;
    if (!m.data_has_type) {
      if (!b_.opt.create || !first || version != 0)
        return fail(&Stats::err_other, "the document does not exist");
      // Create it, as Doc.create() does: v is the snapshot's version (0).
      creating_ = true;
      has_inflight_ = true;
      inflight_seq_ = next_seq_++;
      json_.clear();
      json_ += R"({"a":"op","c":)";
      append_escaped(json_, b_.opt.collection);
      json_ += ",\"d\":";
      append_escaped(json_, b_.doc_ids[doc]);
      json_ += ",\"v\":0,\"seq\":" + std::to_string(inflight_seq_) + R"(,"x":{},"create":{"type":)";
      append_escaped(json_, kTextUnicodeUri);
      json_ += R"(,"data":""}})";
      send(json_);
      return;
    }
    set_text(m.data_has_text ? m.data_text : std::string_view());
    subscribed_ = true;
    b_.subscribed.fetch_add(1, std::memory_order_release);
    return;
  }
  if (m.a == "f") {
    if (!m.has_data) return fail(&Stats::err_other, "fetch reply without a snapshot");
    fetched_version = m.data_v;
    fetched_text.assign(m.data_has_text ? m.data_text : std::string_view());
    fetched = true;
    b_.fetched.fetch_add(1, std::memory_order_release);
    return;
  }
  // Anything else (presence, pp, ...) is not ours to handle.
}

void Editor::on_op(const Message& m) {
  if (m.has_error) {
    fail(&Stats::err_op, "op refused: " + std::string(m.error_code) + " " +
                             std::string(m.error_message) + " (seq " + std::to_string(m.seq) + ")");
    return;
  }
  // Doc._handleOp: our in-flight op's (src, seq) is the acknowledgement.
  if (has_inflight_ && m.src == src && m.seq == static_cast<std::int64_t>(inflight_seq_))
    return on_ack(m);
  on_remote(const_cast<Message&>(m));
}

void Editor::on_ack(const Message& m) {
  const std::uint64_t now = now_us();
  has_inflight_ = false;
  if (creating_) {
    creating_ = false;
    version = m.v + 1;
    set_text({});
    subscribed_ = true;
    b_.subscribed.fetch_add(1, std::memory_order_release);
    return;
  }
  if (m.v != version) {
    fail(&Stats::err_ack_version,
         "ack at version " + std::to_string(m.v) + ", expected " + std::to_string(version));
    return;
  }
  ++version;
  w_.counters.acked.fetch_add(1, std::memory_order_relaxed);
  if (b_.in_window(now)) ++w_.stats.ops_acked;
  if (b_.in_window(inflight_sent_us_)) {
    w_.stats.ack.add(now - inflight_sent_us_);
    w_.stats.edit_ack.add(now - inflight_first_edit_us_);
  }
  if (has_pending_) {
    inflight_.swap(pending_);
    pending_.clear();
    has_pending_ = false;
    has_inflight_ = true;
    inflight_first_edit_us_ = pending_first_edit_us_;
    send_inflight();
  }
}

void Editor::on_remote(Message& m) {
  if (!subscribed_) return;
  if (m.has_create) return fail(&Stats::err_other, "the document was created again");
  if (!m.has_op) return fail(&Stats::err_other, "an op message without an op");
  if (m.v < version) {  // already applied (ShareDB sends missed ops twice)
    ++w_.stats.duplicates;
    return;
  }
  if (m.v > version)
    return fail(&Stats::err_gap,
                "op at version " + std::to_string(m.v) + ", expected " + std::to_string(version));
  const std::uint64_t now = now_us();
  ot::Op& theirs = m.op;
  // transformX(client, server): client' = T(client, server, left), server' = T(server, client,
  // right)
  auto xform = [&](ot::Op& mine) {
    if (!ot::transform_into(mine, theirs, ot::Side::kLeft, t1_).ok() ||
        !ot::transform_into(theirs, mine, ot::Side::kRight, t2_).ok())
      return false;
    mine.swap(t1_);
    theirs.swap(t2_);
    return true;
  };
  if ((has_inflight_ && !xform(inflight_)) || (has_pending_ && !xform(pending_)))
    return fail(&Stats::err_transform, "transform failed");
  if (!apply_remote(theirs)) return;
  ++version;
  w_.counters.applied.fetch_add(1, std::memory_order_relaxed);
  if (const Editor* from = b_.sender(m.src)) {
    const std::uint64_t e =
        from->ring[static_cast<std::size_t>(m.seq) % kRing].load(std::memory_order_relaxed);
    const std::uint64_t sent = e & ((std::uint64_t{1} << kSeqShift) - 1);
    if ((e >> kSeqShift) == (static_cast<std::uint64_t>(m.seq) & 0xFFFFFF)) {
      if (b_.in_window(sent)) {
        w_.stats.broadcast.add(now >= sent ? now - sent : 0);
        ++w_.stats.deliveries;
      }
    } else {
      ++w_.stats.unmatched_broadcast;
    }
  }
}

void Editor::start_editing(Clock::time_point first_due) {
  if (broken || b_.opt.rate <= 0) return;
  editing_ = true;
  period_ =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / b_.opt.rate));
  // A random phase so that editors do not edit in lock step.
  std::uniform_int_distribution<std::int64_t> phase(0, period_.count());
  next_due_ = first_due + Clock::duration(phase(rng_));
  timer_.expires_at(next_due_);
  timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->on_timer();
  });
}

void Editor::stop_editing() {
  editing_ = false;
  timer_.cancel();
}

void Editor::on_timer() {
  if (!editing_) return;
  const auto now = Clock::now();
  const std::uint64_t now_u = now_us();
  if (b_.in_window(now_u))
    w_.stats.lag.add(static_cast<std::uint64_t>(std::max<std::int64_t>(
        0, std::chrono::duration_cast<std::chrono::microseconds>(now - next_due_).count())));
  while (next_due_ <= now && next_due_ < b_.edit_end) {
    edit();
    next_due_ += period_;
  }
  if (next_due_ >= b_.edit_end) {
    editing_ = false;
    return;
  }
  timer_.expires_at(next_due_);
  timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->on_timer();
  });
}

void Editor::edit() {
  const std::uint64_t now = now_us();
  const std::uint64_t len = length;
  const bool grow = len < b_.opt.doc_length;
  const bool insert = len == 0 || std::uniform_int_distribution<int>(0, 9)(rng_) < (grow ? 7 : 3);
  ot::Op op;
  if (insert) {
    const auto pos = std::uniform_int_distribution<std::uint64_t>(0, len)(rng_);
    const auto r = std::uniform_int_distribution<int>(0, 63)(rng_);
    std::string s;
    if (r == 0)
      s = "\xF0\x9F\x98\x80";  // U+1F600: one code point, two UTF-16 units in JS
    else if (r < 4)
      s = "\xC3\xA9";  // U+00E9
    else
      s = static_cast<char>('a' + r % 26);
    op = ot::make_insert(pos, s);
  } else {
    const auto pos = std::uniform_int_distribution<std::uint64_t>(0, len - 1)(rng_);
    op = ot::make_remove(pos, 1);
  }
  if (verify) {
    if (auto st = text.apply(op); !st.ok())
      return fail(&Stats::err_transform, "local apply failed: " + st.error().message);
  }
  length = insert ? length + 1 : length - 1;
  if (b_.in_window(now)) ++w_.stats.edits;
  if (!has_inflight_) {
    inflight_ = std::move(op);
    has_inflight_ = true;
    inflight_first_edit_us_ = now;
    send_inflight();
  } else if (!has_pending_) {
    pending_ = std::move(op);
    has_pending_ = true;
    pending_first_edit_us_ = now;
  } else {
    if (!ot::compose_into(pending_, op, t1_).ok())
      return fail(&Stats::err_transform, "compose failed");
    pending_.swap(t1_);
  }
}

void Editor::send_inflight() {
  inflight_seq_ = next_seq_++;
  inflight_sent_us_ = now_us();
  ring[inflight_seq_ % kRing].store(((inflight_seq_ & 0xFFFFFF) << kSeqShift) | inflight_sent_us_,
                                    std::memory_order_relaxed);
  w_.counters.sent.fetch_add(1, std::memory_order_relaxed);
  if (b_.in_window(inflight_sent_us_)) ++w_.stats.ops_sent;
  // Connection.sendOp: a, c, d, v, (src only on a resend), seq, x, op.
  json_.clear();
  json_ += R"({"a":"op","c":)";
  append_escaped(json_, b_.opt.collection);
  json_ += ",\"d\":";
  append_escaped(json_, b_.doc_ids[doc]);
  json_ += ",\"v\":" + std::to_string(version) + ",\"seq\":" + std::to_string(inflight_seq_) +
           R"(,"x":{},"op":)";
  append_op(json_, inflight_);
  json_ += '}';
  send(json_);
}

// --- main ---------------------------------------------------------------------------

// Runs `step` on every editor (selected by `pick`) on its own thread.
template <class Pick, class Step>
void for_editors(Bench& b, Pick pick, Step step) {
  for (auto& w : b.workers) {
    asio::post(w->ioc, [&w = *w, pick, step] {
      for (auto& e : w.editors)
        if (pick(*e)) step(*e);
    });
  }
}

// Waits until pred() or the timeout; false on timeout or when an editor failed
// (failures are fatal before the edit phase).
template <class Pred>
bool wait_for(Bench& b, Pred pred, double seconds, const char* what) {
  const auto until = Clock::now() + std::chrono::duration<double>(seconds);
  while (!pred()) {
    if (b.failed.load() > 0) {
      std::cerr << "sharedb_load: failed while " << what << "\n";
      return false;
    }
    if (Clock::now() > until) {
      std::cerr << "sharedb_load: timed out while " << what << "\n";
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

int usage() {
  std::cerr << "usage: sharedb_load --url ws://HOST:PORT/PATH [--docs M] [--editors K] "
               "[--rate E] [--duration S] [--warmup S] [--threads T] [--create | --doc-ids "
               "FILE] [--server-pid PID] [--label NAME] [--collection C] [--seed N] "
               "[--doc-length L] [--verify-editors V] [--connect-window W] [--settle-ms MS] "
               "[--drain-s S] [--token T "
               "[--token-in-query]] [--ramp K1,K2,... [--ramp-p99-ms MS]]\n";
  return 2;
}

bool parse_url(const std::string& url, Options& o) {
  if (url.rfind("ws://", 0) != 0) return false;
  const auto rest = url.substr(5);
  const auto slash = rest.find('/');
  const auto hostport = rest.substr(0, slash);
  o.target = slash == std::string::npos ? "/" : rest.substr(slash);
  const auto colon = hostport.rfind(':');
  if (colon == std::string::npos) return false;
  o.host = hostport.substr(0, colon);
  o.port = hostport.substr(colon + 1);
  return true;
}

std::vector<std::size_t> parse_list(const std::string& v) {
  std::vector<std::size_t> out;
  std::istringstream in(v);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(std::stoul(item));
  return out;
}

int run_step(const Options& o, double& p99_ack_ms);

int run(int argc, char** argv) {
  Options o;
  bool have_url = false;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--create") {
      o.create = true;
      continue;
    }
    if (k == "--token-in-query") {
      o.token_in_query = true;
      continue;
    }
    if (i + 1 >= argc) return usage();
    const std::string v = argv[++i];
    if (k == "--url")
      have_url = parse_url(v, o);
    else if (k == "--docs")
      o.docs = std::stoul(v);
    else if (k == "--editors")
      o.editors = std::stoul(v);
    else if (k == "--rate")
      o.rate = std::stod(v);
    else if (k == "--duration")
      o.duration = std::stod(v);
    else if (k == "--warmup")
      o.warmup = std::stod(v);
    else if (k == "--threads")
      o.threads = std::max<std::size_t>(1, std::stoul(v));
    else if (k == "--doc-ids")
      o.doc_ids_file = v;
    else if (k == "--server-pid")
      o.server_pid = std::stoi(v);
    else if (k == "--label")
      o.label = v;
    else if (k == "--collection")
      o.collection = v;
    else if (k == "--seed")
      o.seed = std::stoull(v);
    else if (k == "--verify-editors")
      o.verify_editors = std::max<std::size_t>(1, std::stoul(v));
    else if (k == "--doc-length")
      o.doc_length = std::stoull(v);
    else if (k == "--connect-window")
      o.connect_window = std::max<std::size_t>(1, std::stoul(v));
    else if (k == "--settle-ms")
      o.settle_ms = std::stoi(v);
    else if (k == "--drain-s")
      o.drain_s = std::stod(v);
    else if (k == "--token")
      o.token = v;
    else if (k == "--ramp")
      o.ramp = parse_list(v);
    else if (k == "--ramp-p99-ms")
      o.ramp_p99_ms = std::stod(v);
    else
      return usage();
  }
  // Exactly one of --create and --doc-ids says where the documents come from.
  if (!have_url || o.docs == 0 || o.editors == 0 || o.create == !o.doc_ids_file.empty())
    return usage();
  if (!o.token.empty() && o.token_in_query)
    o.target +=
        (o.target.find('?') == std::string::npos ? "?access_token=" : "&access_token=") + o.token;
  if (o.ramp.empty()) {
    double p99 = 0;
    return run_step(o, p99);
  }
  // Ramp: one run per step (fresh connections and, with --create, fresh
  // documents), one JSON line each, until a step's op-to-ack p99 exceeds the
  // threshold or it has errors.
  std::size_t last_ok = 0;
  for (const std::size_t k : o.ramp) {
    Options step = o;
    step.editors = k;
    step.label = o.label + "@" + std::to_string(k);
    double p99 = 0;
    const int rc = run_step(step, p99);
    if (rc != 0) {
      std::cerr << "ramp: " << k << " editors per document: errors; stopping\n";
      break;
    }
    if (p99 > o.ramp_p99_ms) {
      std::cerr << "ramp: " << k << " editors per document: op-to-ack p99 " << p99 << " ms > "
                << o.ramp_p99_ms << " ms; stopping\n";
      break;
    }
    last_ok = k;
    std::this_thread::sleep_for(std::chrono::milliseconds(o.settle_ms));
  }
  std::cerr << "ramp: most editors per document with op-to-ack p99 <= " << o.ramp_p99_ms
            << " ms and no errors: " << last_ok << "\n";
  std::printf(
      "{\"ramp_result\":{\"server\":\"%s\",\"docs\":%zu,\"p99_limit_ms\":%.3g,"
      "\"max_editors_per_doc\":%zu}}\n",
      o.label.c_str(), o.docs, o.ramp_p99_ms, last_ok);
  return last_ok > 0 ? 0 : 1;
}

int run_step(const Options& o, double& p99_ack_ms) {
  Bench b(o);
  if (o.create) {
    const auto tag = std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
    for (std::size_t d = 0; d < o.docs; ++d)
      b.doc_ids.push_back("bench-" + tag + "-" + std::to_string(d));
  } else {
    std::ifstream in(o.doc_ids_file);
    std::string line;
    while (b.doc_ids.size() < o.docs && std::getline(in, line))
      if (!line.empty()) b.doc_ids.push_back(line);
    if (b.doc_ids.size() < o.docs) {
      std::cerr << "sharedb_load: " << o.doc_ids_file << " has " << b.doc_ids.size()
                << " ids, need " << o.docs << "\n";
      return 2;
    }
  }
  {
    asio::io_context ioc;
    tcp::resolver res(ioc);
    b.endpoint = *res.resolve(o.host, o.port).begin();
  }
  const std::size_t n = o.docs * o.editors;
  for (std::size_t t = 0; t < o.threads; ++t) b.workers.push_back(std::make_unique<Worker>());
  for (std::size_t i = 0; i < n; ++i) {
    Worker& w = *b.workers[i % o.threads];
    auto e = std::make_shared<Editor>(w, b, i, i / o.editors, i % o.editors == 0);
    w.editors.push_back(e);
    b.editors.push_back(std::move(e));
  }
  for (auto& w : b.workers) w->thread = std::thread([&ioc = w->ioc] { ioc.run(); });
  auto finish_threads = [&] {
    for (auto& w : b.workers) w->ioc.stop();
    for (auto& w : b.workers) w->thread.join();
  };

  const std::string load_start = loadavg();
  const long rss_start = rss_kib(o.server_pid);
  const auto t_connect = Clock::now();
  for (auto& w : b.workers)
    asio::post(w->ioc, [&w = *w, k = o.connect_window / o.threads + 1] {
      for (std::size_t i = 0; i < k; ++i) w.connect_next();
    });
  if (!wait_for(
          b, [&] { return b.connected.load(std::memory_order_acquire) == n; }, 600, "connecting")) {
    finish_threads();
    return 1;
  }
  const double connect_s = std::chrono::duration<double>(Clock::now() - t_connect).count();
  for (auto& e : b.editors) b.by_src.emplace(e->src, e.get());
  b.by_src_ready.store(true, std::memory_order_release);
  if (b.by_src.size() != n) std::cerr << "sharedb_load: client ids are not unique\n";
  std::this_thread::sleep_for(std::chrono::milliseconds(o.settle_ms));
  const long rss_connected = rss_kib(o.server_pid);

  const auto t_sub = Clock::now();
  if (o.create) {  // creators first, then everyone else subscribes to existing documents
    for_editors(
        b, [](const Editor& e) { return e.first; }, [](Editor& e) { e.subscribe(); });
    if (!wait_for(
            b, [&] { return b.subscribed.load(std::memory_order_acquire) == o.docs; }, 600,
            "creating the documents")) {
      finish_threads();
      return 1;
    }
    for_editors(
        b, [](const Editor& e) { return !e.first; }, [](Editor& e) { e.subscribe(); });
  } else {
    for_editors(
        b, [](const Editor&) { return true; }, [](Editor& e) { e.subscribe(); });
  }
  if (!wait_for(
          b, [&] { return b.subscribed.load(std::memory_order_acquire) == n; }, 600,
          "subscribing")) {
    finish_threads();
    return 1;
  }
  const double subscribe_s = std::chrono::duration<double>(Clock::now() - t_sub).count();
  std::this_thread::sleep_for(std::chrono::milliseconds(o.settle_ms));
  const long rss_subscribed = rss_kib(o.server_pid);

  // The edit phase: warm-up, then the measured window.
  const auto t0 = Clock::now() + std::chrono::milliseconds(100);
  const auto ws =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.warmup));
  const auto we =
      ws + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration));
  auto to_us = [](Clock::time_point t) {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(t - g_epoch).count());
  };
  b.window_start_us = to_us(ws);
  b.window_end_us = to_us(we);
  b.edit_end = we;
  for_editors(
      b, [](const Editor&) { return true; }, [t0](Editor& e) { e.start_editing(t0); });
  std::this_thread::sleep_until(ws);
  const double srv_cpu0 = o.server_pid > 0 ? cpu_seconds(o.server_pid) : 0;
  const double gen_cpu0 = self_cpu_seconds();
  std::this_thread::sleep_until(we);
  // 0 rather than negative when the server died during the window (no /proc entry).
  const double srv_cpu = o.server_pid > 0 ? std::max(0.0, cpu_seconds(o.server_pid) - srv_cpu0) : 0;
  const double gen_cpu = self_cpu_seconds() - gen_cpu0;
  const long rss_end = rss_kib(o.server_pid);
  const std::string load_end = loadavg();

  // Drain: every op acknowledged and delivered to the document's other editors.
  auto sum = [&](std::atomic<std::uint64_t> Counters::*c) {
    std::uint64_t s = 0;
    for (auto& w : b.workers) s += (w->counters.*c).load(std::memory_order_relaxed);
    return s;
  };
  const auto t_drain = Clock::now();
  bool drained = false;
  while (std::chrono::duration<double>(Clock::now() - t_drain).count() < o.drain_s) {
    const auto sent = sum(&Counters::sent), acked = sum(&Counters::acked),
               applied = sum(&Counters::applied);
    if (sent == acked && applied == acked * (o.editors - 1)) {
      drained = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const double drain_s = std::chrono::duration<double>(Clock::now() - t_drain).count();
  for_editors(
      b, [](const Editor&) { return true; }, [](Editor& e) { e.stop_editing(); });
  for_editors(
      b, [](const Editor& e) { return e.first; }, [](Editor& e) { e.fetch(); });
  {
    const auto until = Clock::now() + std::chrono::seconds(30);
    std::size_t want = 0;
    for (auto& e : b.editors) want += e->first && !e->broken ? 1 : 0;  // racy read: a bound only
    while (b.fetched.load(std::memory_order_acquire) < want && Clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  finish_threads();

  // Convergence: every editor's text and version equal the fetched snapshot.
  std::size_t docs_converged = 0;
  std::int64_t total_version = 0;
  std::uint64_t total_length = 0;
  for (std::size_t d = 0; d < o.docs; ++d) {
    const Editor& f = *b.editors[d * o.editors];
    bool ok = f.fetched && !f.broken;
    for (std::size_t i = 0; ok && i < o.editors; ++i) {
      const Editor& e = *b.editors[d * o.editors + i];
      ok = !e.broken && e.version == f.fetched_version &&
           (e.verify ? e.text.to_string() == f.fetched_text
                     : e.length == ot::Document(f.fetched_text).length());
    }
    if (ok) {
      ++docs_converged;
      total_version += f.fetched_version;
      total_length += ot::Document(f.fetched_text).length();
    } else if (docs_converged + 3 > d) {
      std::cerr << "sharedb_load: document " << b.doc_ids[d] << " did not converge\n";
    }
  }

  Stats s;
  for (auto& w : b.workers) s.merge(w->stats);
  const double dur = o.duration;
  const double per_conn =
      rss_start > 0 ? (rss_connected - rss_start) * 1024.0 / static_cast<double>(n) : 0;
  const double per_doc =
      rss_start > 0 ? (rss_subscribed - rss_connected) * 1024.0 / static_cast<double>(o.docs) : 0;
  const bool converged = docs_converged == o.docs;
  std::printf(
      "{\"server\":\"%s\",\"docs\":%zu,\"editors_per_doc\":%zu,\"connections\":%zu,"
      "\"rate\":%.3g,\"duration_s\":%.3g,\"warmup_s\":%.3g,\"threads\":%zu,"
      "\"verify_editors\":%zu,"
      "\"edits_per_s\":%.1f,\"ops_submitted_per_s\":%.1f,\"ops_acked_per_s\":%.1f,"
      "\"deliveries_per_s\":%.1f,"
      "\"op_to_ack_ms\":%s,\"edit_to_ack_ms\":%s,\"op_to_broadcast_ms\":%s,"
      "\"generator_lag_ms\":%s,"
      "\"errors\":%llu,\"error_detail\":{\"op\":%llu,\"gap\":%llu,\"ack_version\":%llu,"
      "\"ot\":%llu,\"parse\":%llu,\"closed\":%llu,\"connect\":%llu,\"other\":%llu},"
      "\"unmatched_broadcasts\":%llu,\"duplicate_ops\":%llu,"
      "\"drained\":%s,\"drain_s\":%.2f,\"converged\":%s,\"docs_converged\":%zu,"
      "\"mean_final_version\":%.1f,\"mean_final_length\":%.1f,"
      "\"cpu_s\":{\"server\":%.2f,\"generator\":%.2f},"
      "\"cpu_pct\":{\"server\":%.1f,\"generator\":%.1f},"
      "\"server_rss_kib\":{\"start\":%ld,\"connected\":%ld,\"subscribed\":%ld,\"end\":%ld},"
      "\"server_bytes_per_connection\":%.0f,\"server_bytes_per_document\":%.0f,"
      "\"mib_per_s\":{\"sent\":%.2f,\"received\":%.2f},"
      "\"connect_s\":%.2f,\"subscribe_s\":%.2f,\"loadavg_start\":%s,\"loadavg_end\":%s}\n",
      o.label.c_str(), o.docs, o.editors, n, o.rate, o.duration, o.warmup, o.threads,
      std::min(o.verify_editors, o.editors), static_cast<double>(s.edits) / dur,
      static_cast<double>(s.ops_sent) / dur, static_cast<double>(s.ops_acked) / dur,
      static_cast<double>(s.deliveries) / dur, s.ack.json().c_str(), s.edit_ack.json().c_str(),
      s.broadcast.json().c_str(), s.lag.json().c_str(),
      static_cast<unsigned long long>(s.errors()) + (drained ? 0ULL : 1ULL),
      static_cast<unsigned long long>(s.err_op), static_cast<unsigned long long>(s.err_gap),
      static_cast<unsigned long long>(s.err_ack_version),
      static_cast<unsigned long long>(s.err_transform),
      static_cast<unsigned long long>(s.err_parse), static_cast<unsigned long long>(s.err_closed),
      static_cast<unsigned long long>(s.err_connect), static_cast<unsigned long long>(s.err_other),
      static_cast<unsigned long long>(s.unmatched_broadcast),
      static_cast<unsigned long long>(s.duplicates), drained ? "true" : "false", drain_s,
      converged ? "true" : "false", docs_converged,
      docs_converged ? static_cast<double>(total_version) / static_cast<double>(docs_converged) : 0,
      docs_converged ? static_cast<double>(total_length) / static_cast<double>(docs_converged) : 0,
      srv_cpu, gen_cpu, 100 * srv_cpu / dur, 100 * gen_cpu / dur, rss_start, rss_connected,
      rss_subscribed, rss_end, per_conn, per_doc,
      static_cast<double>(s.bytes_sent) / dur / 1048576.0,  // whole run; rough
      static_cast<double>(s.bytes_received) / dur / 1048576.0, connect_s, subscribe_s,
      load_start.c_str(), load_end.c_str());
  std::fflush(stdout);
  std::fprintf(stderr,
               "%s: %zu docs x %zu editors at %.3g edits/s: %.0f ops acked/s, op-to-ack p50 %.2f "
               "p99 %.2f max %.2f ms; broadcast p99 %.2f ms; CPU server %.0f%% generator %.0f%%; "
               "errors %llu; converged %s\n",
               o.label.c_str(), o.docs, o.editors, o.rate, static_cast<double>(s.ops_acked) / dur,
               s.ack.percentile_ms(0.5), s.ack.percentile_ms(0.99), s.ack.percentile_ms(1.0),
               s.broadcast.percentile_ms(0.99), 100 * srv_cpu / dur, 100 * gen_cpu / dur,
               static_cast<unsigned long long>(s.errors()), converged ? "yes" : "no");
  p99_ack_ms = s.ack.percentile_ms(0.99);
  return s.errors() == 0 && drained && converged ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "sharedb_load: " << e.what() << "\n";
    return 1;
  }
}
