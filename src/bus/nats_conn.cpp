#include "bus/nats_conn.hpp"

#include <spdlog/spdlog.h>

#include <utility>
#include <vector>

#include "bus/event.hpp"

namespace office::bus {

namespace {

bool unavailable_status(natsStatus s) {
  switch (s) {
    case NATS_CONNECTION_CLOSED:
    case NATS_NO_SERVER:
    case NATS_IO_ERROR:
    case NATS_TIMEOUT:
    case NATS_NO_RESPONDERS:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_STALE_CONNECTION:
    case NATS_NOT_YET_CONNECTED:
    case NATS_DRAINING:
    case NATS_INSUFFICIENT_BUFFER:
    case NATS_MISSED_HEARTBEAT:
      return true;
    default:
      return false;
  }
}

void on_disconnected(natsConnection* nc, void* /*closure*/) {
  if (natsConnection_IsClosed(nc)) return;  // closed by us
  spdlog::warn("nats bus: disconnected, reconnecting");
}

void on_reconnected(natsConnection* /*nc*/, void* /*closure*/) {
  spdlog::info("nats bus: reconnected");
}

void on_async_error(natsConnection* /*nc*/, natsSubscription* /*sub*/, natsStatus err,
                    void* /*closure*/) {
  spdlog::warn("nats bus: asynchronous error: {}", natsStatus_GetText(err));
}

// Stream names: no '.', '*', '>', whitespace or path separators (NATS rules).
bool valid_stream_name(std::string_view name) {
  if (name.empty() || name.size() > 200) return false;
  for (char c : name) {
    if (c == '.' || c == '*' || c == '>' || c == '/' || c == '\\' || c <= ' ' || c == 0x7f) {
      return false;
    }
  }
  return true;
}

// True when one prefix captures the other's subjects (a.b and a.b.c).
bool prefixes_overlap(std::string_view a, std::string_view b) {
  auto covers = [](std::string_view p, std::string_view s) {
    return s == p || (s.size() > p.size() && s.substr(0, p.size()) == p && s[p.size()] == '.');
  };
  return covers(a, b) || covers(b, a);
}

Status validate_options(const NatsBusOptions& o) {
  if (o.url.empty()) return Error::invalid("nats bus: no server URL");
  if (!valid_stream_name(o.stream) || !valid_stream_name(o.dead_letter_stream)) {
    return Error::invalid("nats bus: stream names must be 1..200 characters without . * > / \\");
  }
  if (o.stream == o.dead_letter_stream) {
    return Error::invalid("nats bus: events and dead letters need two streams");
  }
  for (const std::string* p : {&o.subject_prefix, &o.dead_letter_prefix}) {
    if (auto st = validate_subject(*p, false); !st) {
      return Error::invalid("nats bus: subject prefix '" + *p + "': " + st.error().message);
    }
  }
  if (prefixes_overlap(o.subject_prefix, o.dead_letter_prefix)) {
    return Error::invalid("nats bus: the event and dead-letter subject prefixes overlap");
  }
  if (o.connect_timeout.count() <= 0 || o.request_timeout.count() <= 0 ||
      o.reconnect_wait.count() <= 0 || o.duplicate_window.count() <= 0 || o.max_age.count() < 0 ||
      o.publish_stall.count() < 0) {
    return Error::invalid("nats bus: timeouts and windows must be positive");
  }
  if (o.max_age.count() > 0 && o.duplicate_window > o.max_age) {
    return Error::invalid("nats bus: the duplicate window must not exceed max_age");
  }
  if (o.max_outstanding_publishes == 0 || o.reconnect_buffer_bytes <= 0 || o.max_ack_pending <= 0) {
    return Error::invalid("nats bus: publish and ack limits must be positive");
  }
  return {};
}

struct OptionsDeleter {
  void operator()(natsOptions* o) const { natsOptions_Destroy(o); }
};
struct StreamInfoDeleter {
  void operator()(jsStreamInfo* si) const { jsStreamInfo_Destroy(si); }
};

}  // namespace

Error nats_status_error(natsStatus s, std::string_view what, jsErrCode jerr) {
  natsStatus last = NATS_OK;
  const char* text = nats_GetLastError(&last);
  std::string message(what);
  message += ": ";
  message += (text != nullptr && last == s && *text != '\0') ? text : natsStatus_GetText(s);
  if (jerr != 0) message += " (JetStream error " + std::to_string(static_cast<int>(jerr)) + ")";
  if (unavailable_status(s) || jerr == JSClusterNotAvailErr) {
    Error e = Error::unavailable(std::move(message));
    e.retry_after_s = 1;
    return e;
  }
  if (nats_not_found(s, jerr)) return Error::not_found(std::move(message));
  return Error::internal(std::move(message));
}

bool nats_not_found(natsStatus s, jsErrCode jerr) {
  return s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr || jerr == JSConsumerNotFoundErr ||
         jerr == JSNoMessageFoundErr;
}

std::string_view nats_header(natsMsg* msg, const char* key) {
  const char* value = nullptr;
  if (natsMsgHeader_Get(msg, key, &value) != NATS_OK || value == nullptr) return {};
  return value;
}

Result<std::shared_ptr<NatsConn>> NatsConn::connect(const NatsBusOptions& options) {
  if (auto st = validate_options(options); !st) return std::move(st).error();
  std::shared_ptr<NatsConn> conn(new NatsConn(options));

  natsOptions* raw = nullptr;
  if (natsStatus s = natsOptions_Create(&raw); s != NATS_OK) {
    return nats_status_error(s, "nats bus: options");
  }
  std::unique_ptr<natsOptions, OptionsDeleter> opts(raw);
  std::vector<std::string> urls;
  for (std::size_t start = 0; start <= options.url.size();) {
    std::size_t comma = options.url.find(',', start);
    if (comma == std::string::npos) comma = options.url.size();
    std::string u = options.url.substr(start, comma - start);
    if (!u.empty()) urls.push_back(std::move(u));
    start = comma + 1;
  }
  if (urls.empty()) return Error::invalid("nats bus: no server URL");
  std::vector<const char*> url_ptrs;
  url_ptrs.reserve(urls.size());
  for (const auto& u : urls) url_ptrs.push_back(u.c_str());
  natsStatus s =
      natsOptions_SetServers(opts.get(), url_ptrs.data(), static_cast<int>(url_ptrs.size()));
  if (s == NATS_OK) s = natsOptions_SetNoRandomize(opts.get(), true);
  if (s == NATS_OK) s = natsOptions_SetName(opts.get(), options.connection_name.c_str());
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts.get(), options.connect_timeout.count());
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts.get(), -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts.get(), options.reconnect_wait.count());
  if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(opts.get(), options.reconnect_buffer_bytes);
  if (s == NATS_OK) s = natsOptions_SetPingInterval(opts.get(), 10'000);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts.get(), 3);
  // JetStream API calls made while disconnected fail at once (kUnavailable)
  // instead of waiting for their timeout.
  if (s == NATS_OK) s = natsOptions_SetFailRequestsOnDisconnect(opts.get(), true);
  if (s == NATS_OK) s = natsOptions_SetErrorHandler(opts.get(), on_async_error, nullptr);
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts.get(), on_disconnected, nullptr);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts.get(), on_reconnected, nullptr);
  if (s != NATS_OK) return nats_status_error(s, "nats bus: options");

  s = natsConnection_Connect(&conn->nc_, opts.get());
  if (s != NATS_OK) {
    Error e = nats_status_error(s, "nats bus: cannot connect to " + options.url);
    e.code = ErrorCode::kUnavailable;
    return e;
  }
  jsOptions jo = conn->js_options();
  s = natsConnection_JetStream(&conn->js_, conn->nc_, &jo);
  if (s != NATS_OK) return nats_status_error(s, "nats bus: JetStream context");
  if (auto st = conn->ensure_streams(); !st) return std::move(st).error();
  return conn;
}

NatsConn::~NatsConn() {
  jsCtx_Destroy(js_);
  if (nc_ != nullptr) {
    natsConnection_Close(nc_);
    natsConnection_Destroy(nc_);
  }
}

std::string NatsConn::event_subject(std::string_view subject) const {
  std::string s;
  s.reserve(options_.subject_prefix.size() + 1 + subject.size());
  s += options_.subject_prefix;
  s += '.';
  s += subject;
  return s;
}

std::optional<std::string_view> NatsConn::strip_prefix(std::string_view stream_subject) const {
  const std::string& p = options_.subject_prefix;
  if (stream_subject.size() <= p.size() + 1 || stream_subject.substr(0, p.size()) != p ||
      stream_subject[p.size()] != '.') {
    return std::nullopt;
  }
  return stream_subject.substr(p.size() + 1);
}

std::string NatsConn::dead_letter_subject(std::string_view consumer) const {
  return options_.dead_letter_prefix + "." +
         (consumer.empty() ? std::string(">") : std::string(consumer));
}

Status NatsConn::check_connected() const {
  if (natsConnection_Status(nc_) != NATS_CONN_STATUS_CONNECTED) {
    Error e = Error::unavailable("nats bus: not connected to the server");
    e.retry_after_s = 1;
    return e;
  }
  return {};
}

jsOptions NatsConn::js_options() const {
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = options_.request_timeout.count();
  return jo;
}

Status NatsConn::ensure_streams() {
  if (auto st = ensure_stream(options_.stream, options_.subject_prefix + ".>", true); !st) {
    return st;
  }
  return ensure_stream(options_.dead_letter_stream, options_.dead_letter_prefix + ".>", false);
}

Status NatsConn::ensure_stream(const std::string& name, const std::string& subject, bool events) {
  const std::int64_t max_age = events ? nats_nanos(options_.max_age) : 0;
  const std::int64_t max_bytes = events ? options_.max_bytes : -1;
  const std::int64_t dups = nats_nanos(options_.duplicate_window);
  jsOptions jo = js_options();
  for (int attempt = 0; attempt < 2; ++attempt) {
    jsStreamInfo* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&raw, js_, name.c_str(), &jo, &jerr);
    std::unique_ptr<jsStreamInfo, StreamInfoDeleter> si(raw);
    if (s == NATS_OK) {
      const jsStreamConfig& have = *si->Config;
      bool subject_ok = false;
      for (int i = 0; i < have.SubjectsLen; ++i) subject_ok |= subject == have.Subjects[i];
      if (!subject_ok || have.Retention != js_LimitsPolicy) {
        return Error{ErrorCode::kFailedPrecondition, "nats bus: stream " + name +
                                                         " exists without subject " + subject +
                                                         " or with another retention than limits"};
      }
      if (have.MaxAge == max_age && have.MaxBytes == max_bytes && have.Duplicates == dups &&
          have.AllowDirect) {
        return {};
      }
      jsStreamConfig want = have;  // strings stay owned by si
      want.MaxAge = max_age;
      want.MaxBytes = max_bytes;
      want.Duplicates = dups;
      want.AllowDirect = true;
      s = js_UpdateStream(nullptr, js_, &want, &jo, &jerr);
      if (s != NATS_OK) return nats_status_error(s, "nats bus: update stream " + name, jerr);
      spdlog::info("nats bus: updated the limits of stream {}", name);
      return {};
    }
    if (!nats_not_found(s, jerr)) return nats_status_error(s, "nats bus: stream " + name, jerr);

    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char* subjects[] = {subject.c_str()};
    cfg.Name = name.c_str();
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Retention = js_LimitsPolicy;
    cfg.Storage = js_FileStorage;
    cfg.Discard = js_DiscardOld;
    cfg.MaxAge = max_age;
    cfg.MaxBytes = max_bytes;
    cfg.Duplicates = dups;
    cfg.AllowDirect = true;  // direct gets: dead-letter reads without the stream leader
    s = js_AddStream(nullptr, js_, &cfg, &jo, &jerr);
    if (s == NATS_OK) {
      spdlog::info("nats bus: created stream {} ({})", name, subject);
      return {};
    }
    // Another process created it in between: check it on the next round.
    if (jerr != JSStreamNameExistErr) {
      return nats_status_error(s, "nats bus: create stream " + name, jerr);
    }
  }
  return Error::unavailable("nats bus: stream " + name + " keeps changing");
}

}  // namespace office::bus
