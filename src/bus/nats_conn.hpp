#pragma once
// Internal to the NATS bus (nats_*.cpp): the shared connection and the
// libnats helpers. Includes nats.h, so nothing outside src/bus/nats_* does.

#include <nats/nats.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "bus/nats_bus.hpp"
#include "core/result.hpp"

namespace office::bus {

struct NatsMsgDeleter {
  void operator()(natsMsg* m) const { natsMsg_Destroy(m); }
};
using NatsMsgPtr = std::unique_ptr<natsMsg, NatsMsgDeleter>;

/// Error for a failed libnats call: kUnavailable for connection problems and
/// timeouts, kNotFound for NATS_NOT_FOUND and JetStream "not found" codes,
/// kInternal otherwise; the message names `what` and libnats' last error.
Error nats_status_error(natsStatus s, std::string_view what,
                        jsErrCode jerr = static_cast<jsErrCode>(0));

/// True for the JetStream error codes and statuses that mean "no such
/// stream, consumer or message".
bool nats_not_found(natsStatus s, jsErrCode jerr);

inline std::int64_t nats_nanos(std::chrono::milliseconds d) {
  return static_cast<std::int64_t>(d.count()) * 1'000'000;
}

/// A header of a message, or empty.
std::string_view nats_header(natsMsg* msg, const char* key);

/// The connection shared by the bus, its consumers, their deliveries and the
/// dead-letter store (the last owner closes it). libnats is thread-safe, so
/// every member may be used from any thread.
class NatsConn {
 public:
  static Result<std::shared_ptr<NatsConn>> connect(const NatsBusOptions& options);
  ~NatsConn();
  NatsConn(const NatsConn&) = delete;
  NatsConn& operator=(const NatsConn&) = delete;

  const NatsBusOptions& options() const { return options_; }
  natsConnection* nc() const { return nc_; }
  jsCtx* js() const { return js_; }

  /// `<subject_prefix>.<subject>`
  std::string event_subject(std::string_view subject) const;
  /// The event subject of a stream subject, or nullopt when it is not under the prefix.
  std::optional<std::string_view> strip_prefix(std::string_view stream_subject) const;
  /// `<dead_letter_prefix>.<consumer>`, or `<dead_letter_prefix>.>` for an empty consumer.
  std::string dead_letter_subject(std::string_view consumer) const;

  /// kUnavailable unless connected right now.
  Status check_connected() const;
  /// Creates the events and dead-letter streams when missing, checks them
  /// (and updates their limits) when present.
  Status ensure_streams();
  /// jsOptions with the request timeout.
  jsOptions js_options() const;

 private:
  explicit NatsConn(NatsBusOptions options) : options_(std::move(options)) {}
  Status ensure_stream(const std::string& name, const std::string& subject, bool events);

  NatsBusOptions options_;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

}  // namespace office::bus
