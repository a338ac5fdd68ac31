#include "bus/event.hpp"

#include <google/protobuf/timestamp.pb.h>

#include <utility>

#include "core/ids.hpp"
#include "core/trace.hpp"
#include "office/events/v1/events.pb.h"

namespace office::bus {

namespace {

constexpr std::string_view kTypeUrlPrefix = "type.googleapis.com/";

bool token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool valid_type(std::string_view type) {
  if (type.empty() || type.size() > kMaxTypeBytes || type.front() == '.' || type.back() == '.') {
    return false;
  }
  char prev = 0;
  for (char c : type) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.';
    if (!ok || (c == '.' && prev == '.')) return false;
    prev = c;
  }
  return true;
}

}  // namespace

Event make_event(std::string type, std::string tenant, std::string subject, std::string payload,
                 std::string traceparent, const Clock& clock) {
  Event e;
  e.id = new_id(clock);
  e.type = std::move(type);
  e.tenant = std::move(tenant);
  e.subject = std::move(subject);
  e.occurred_ms = clock.now_ms();
  e.traceparent = std::move(traceparent);
  e.payload = std::move(payload);
  return e;
}

Status validate_subject(std::string_view subject, bool pattern) {
  if (subject.empty()) return Error::invalid("subject is empty");
  if (subject.size() > kMaxSubjectBytes) {
    return Error::invalid("subject is longer than " + std::to_string(kMaxSubjectBytes) + " bytes");
  }
  std::size_t tokens = 0;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = subject.find('.', start);
    std::string_view token =
        subject.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    ++tokens;
    if (token.empty()) return Error::invalid("subject has an empty token");
    bool last = dot == std::string_view::npos;
    if (pattern && token == "*") {
      // one token
    } else if (pattern && token == ">") {
      if (!last) return Error::invalid("'>' must be the subject's last token");
    } else {
      for (char c : token) {
        if (!token_char(c)) {
          return Error::invalid("subject tokens may contain only letters, digits, '_' and '-'" +
                                std::string(pattern ? " (or be '*' or a final '>')" : ""));
        }
      }
    }
    if (last) break;
    start = dot + 1;
  }
  if (tokens > kMaxSubjectTokens) {
    return Error::invalid("subject has more than " + std::to_string(kMaxSubjectTokens) + " tokens");
  }
  return {};
}

bool subject_matches(std::string_view pattern, std::string_view subject) {
  std::size_t p = 0;
  std::size_t s = 0;
  while (true) {
    std::size_t pd = pattern.find('.', p);
    std::string_view pt = pattern.substr(p, pd == std::string_view::npos ? pd : pd - p);
    if (pt == ">") return s <= subject.size();  // at least one token left
    if (s > subject.size()) return false;
    std::size_t sd = subject.find('.', s);
    std::string_view st = subject.substr(s, sd == std::string_view::npos ? sd : sd - s);
    if (pt != "*" && pt != st) return false;
    bool p_end = pd == std::string_view::npos;
    bool s_end = sd == std::string_view::npos;
    if (p_end || s_end) return p_end && s_end;
    p = pd + 1;
    s = sd + 1;
  }
}

Status validate_event(const Event& event) {
  if (!Uuid::parse(event.id)) return Error::invalid("event id must be a UUID");
  if (!valid_type(event.type)) {
    return Error::invalid("event type must be a dotted message name of at most " +
                          std::to_string(kMaxTypeBytes) + " bytes");
  }
  if (event.tenant.size() > kMaxTenantBytes) {
    return Error::invalid("event tenant is longer than " + std::to_string(kMaxTenantBytes) +
                          " bytes");
  }
  for (char c : event.tenant) {
    if (!token_char(c)) return Error::invalid("event tenant may contain only [A-Za-z0-9_-]");
  }
  if (auto st = validate_subject(event.subject, false); !st) {
    return Error::invalid("event " + st.error().message);
  }
  if (event.occurred_ms < 0) return Error::invalid("event time is negative");
  if (!event.traceparent.empty() && !TraceContext::parse(event.traceparent)) {
    return Error::invalid("event traceparent is not a W3C traceparent");
  }
  if (event.payload.size() > kMaxPayloadBytes) {
    return Error::invalid("event payload is larger than " + std::to_string(kMaxPayloadBytes) +
                          " bytes");
  }
  return {};
}

Status validate_consumer_name(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return Error::invalid("consumer name must be 1 to 64 characters");
  }
  for (char c : name) {
    if (!token_char(c)) return Error::invalid("consumer name may contain only [A-Za-z0-9_-]");
  }
  return {};
}

std::string encode_event(const Event& event) {
  office::events::v1::Envelope env;
  env.set_id(event.id);
  env.set_type(event.type);
  env.set_tenant(event.tenant);
  env.set_subject(event.subject);
  auto* ts = env.mutable_occurred_at();
  ts->set_seconds(event.occurred_ms / 1000);
  ts->set_nanos(static_cast<std::int32_t>(event.occurred_ms % 1000) * 1'000'000);
  env.set_traceparent(event.traceparent);
  auto* any = env.mutable_payload();
  any->set_type_url(std::string(kTypeUrlPrefix) + event.type);
  any->set_value(event.payload);
  return env.SerializeAsString();
}

Result<Event> decode_event(std::string_view bytes) {
  if (bytes.size() > kMaxEnvelopeBytes) {
    return Error::invalid("event envelope is larger than " + std::to_string(kMaxEnvelopeBytes) +
                          " bytes");
  }
  office::events::v1::Envelope env;
  if (!env.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Error::invalid("not an event envelope");
  }
  Event e;
  e.id = env.id();
  e.type = env.type();
  e.tenant = env.tenant();
  e.subject = env.subject();
  e.occurred_ms = env.occurred_at().seconds() * 1000 + env.occurred_at().nanos() / 1'000'000;
  e.traceparent = env.traceparent();
  if (env.has_payload()) {
    const std::string& url = env.payload().type_url();
    if (url.size() != kTypeUrlPrefix.size() + e.type.size() ||
        url.compare(0, kTypeUrlPrefix.size(), kTypeUrlPrefix) != 0 ||
        url.compare(kTypeUrlPrefix.size(), std::string::npos, e.type) != 0) {
      return Error::invalid("event payload's type URL does not name the event type");
    }
    e.payload = env.payload().value();
  }
  if (auto st = validate_event(e); !st) return std::move(st).error();
  return e;
}

}  // namespace office::bus
