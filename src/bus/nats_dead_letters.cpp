#include "bus/nats_dead_letters.hpp"

#include <google/protobuf/timestamp.pb.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <utility>

#include "core/ids.hpp"
#include "office/events/v1/events.pb.h"

namespace office::bus {

namespace {

constexpr std::size_t kMaxPage = 1000;
constexpr std::string_view kTokenPrefix = "dl1-";

std::string encode_letter(const DeadLetter& d) {
  office::events::v1::DeadLetter pb;
  pb.set_id(d.id);
  pb.mutable_event()->ParseFromString(encode_event(d.event));
  pb.set_consumer(d.consumer);
  pb.set_reason(d.reason);
  pb.set_detail(d.detail);
  pb.set_deliveries(d.deliveries);
  auto* ts = pb.mutable_dead_letter_time();
  ts->set_seconds(d.time_ms / 1000);
  ts->set_nanos(static_cast<std::int32_t>(d.time_ms % 1000) * 1'000'000);
  return pb.SerializeAsString();
}

Result<DeadLetter> decode_letter(natsMsg* msg) {
  office::events::v1::DeadLetter pb;
  if (!pb.ParseFromArray(natsMsg_GetData(msg), natsMsg_GetDataLength(msg))) {
    return Error::internal("a message of the dead-letter stream is not a DeadLetter");
  }
  auto event = decode_event(pb.event().SerializeAsString());
  if (!event) return Error::internal("dead letter " + pb.id() + ": " + event.error().message);
  DeadLetter d;
  d.id = pb.id();
  d.event = std::move(event).value();
  d.consumer = pb.consumer();
  d.reason = pb.reason();
  d.detail = pb.detail();
  d.deliveries = pb.deliveries();
  d.time_ms = pb.dead_letter_time().seconds() * 1000 + pb.dead_letter_time().nanos() / 1'000'000;
  return d;
}

std::uint64_t parse_u64(std::string_view s) {
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return (ec == std::errc() && ptr == s.data() + s.size()) ? v : 0;
}

// Stream sequence of a direct-get reply (0 if missing).
std::uint64_t sequence_of(natsMsg* msg) { return parse_u64(nats_header(msg, JSSequence)); }

}  // namespace

std::string NatsDeadLetters::consumer_of(natsMsg* msg) const {
  std::string_view subject = nats_header(msg, JSSubject);
  const std::string& p = conn_->options().dead_letter_prefix;
  if (subject.size() > p.size() + 1 && subject.substr(0, p.size()) == p) {
    return std::string(subject.substr(p.size() + 1));
  }
  return {};
}

void NatsDeadLetters::remember(const std::string& id, std::uint64_t seq, std::string consumer) {
  std::lock_guard lock(mu_);
  index_[id] = Entry{seq, std::move(consumer)};
}

Result<NatsMsgPtr> NatsDeadLetters::direct_get(std::uint64_t seq,
                                               const std::string& next_by_subject) {
  jsDirectGetMsgOptions dg;
  jsDirectGetMsgOptions_Init(&dg);
  dg.Sequence = seq;
  if (!next_by_subject.empty()) dg.NextBySubject = next_by_subject.c_str();
  jsOptions jo = conn_->js_options();
  natsMsg* raw = nullptr;
  natsStatus s =
      js_DirectGetMsg(&raw, conn_->js(), conn_->options().dead_letter_stream.c_str(), &jo, &dg);
  NatsMsgPtr msg(raw);
  if (s == NATS_NOT_FOUND) return NatsMsgPtr{};
  if (s != NATS_OK) return nats_status_error(s, "nats bus: read dead letters");
  return msg;
}

Status NatsDeadLetters::add(const DeadLetter& letter) {
  if (auto st = validate_consumer_name(letter.consumer); !st) return st;
  if (letter.reason != kReasonMaxDeliver && letter.reason != kReasonDropAfter &&
      letter.reason != kReasonRejected) {
    return Error::invalid("dead letter reason must be max_deliver, drop_after or rejected");
  }
  if (auto st = validate_event(letter.event); !st) return st;
  DeadLetter d = letter;
  if (d.id.empty()) {
    d.id = new_id();
  } else if (!Uuid::parse(d.id)) {
    return Error::invalid("dead letter id must be a UUID");
  }
  std::string body = encode_letter(d);
  std::string subject = conn_->dead_letter_subject(d.consumer);

  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MsgId = d.id.c_str();  // a retried add is stored once
  po.ExpectStream = conn_->options().dead_letter_stream.c_str();
  po.MaxWait = conn_->options().request_timeout.count();
  jsPubAck* ack = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_Publish(&ack, conn_->js(), subject.c_str(), body.data(),
                            static_cast<int>(body.size()), &po, &jerr);
  if (s != NATS_OK) {
    Error e = nats_status_error(s, "nats bus: store a dead letter", jerr);
    if (e.code == ErrorCode::kInternal || e.code == ErrorCode::kNotFound) {
      e.code = ErrorCode::kUnavailable;  // the bridge must not terminate the delivery
    }
    return e;
  }
  remember(d.id, ack->Sequence, d.consumer);
  jsPubAck_Destroy(ack);
  return {};
}

Result<DeadLetterPage> NatsDeadLetters::list(const DeadLetterQuery& query) {
  if (!query.consumer.empty()) {
    if (auto st = validate_consumer_name(query.consumer); !st) return std::move(st).error();
  }
  std::uint64_t next = 1;
  if (!query.page_token.empty()) {
    std::string_view t = query.page_token;
    next = t.substr(0, kTokenPrefix.size()) == kTokenPrefix
               ? parse_u64(t.substr(kTokenPrefix.size()))
               : 0;
    if (next == 0) return Error::invalid("bad dead-letter page token");
  }
  const std::size_t limit = std::clamp<std::size_t>(query.limit, 1, kMaxPage);
  const std::string filter = conn_->dead_letter_subject(query.consumer);
  DeadLetterPage page;
  while (true) {
    auto msg = direct_get(next, filter);
    if (!msg) return std::move(msg).error();
    if (*msg == nullptr) break;
    std::uint64_t seq = sequence_of(msg->get());
    if (seq < next) return Error::internal("nats bus: dead-letter stream returned an old sequence");
    if (page.items.size() == limit) {
      page.next_page_token = std::string(kTokenPrefix) + std::to_string(seq);
      break;
    }
    next = seq + 1;
    auto letter = decode_letter(msg->get());
    if (!letter) {
      // Not written by a bus (someone published to the subject by hand): skip, say so.
      spdlog::warn("nats bus: dead-letter stream message {} skipped: {}", seq,
                   letter.error().message);
      continue;
    }
    remember(letter->id, seq, letter->consumer);
    page.items.push_back(std::move(letter).value());
  }
  return page;
}

Status NatsDeadLetters::scan_new() {
  std::lock_guard scan(scan_mu_);
  std::uint64_t next = 0;
  {
    std::lock_guard lock(mu_);
    next = scanned_to_ + 1;
  }
  const std::string all = conn_->dead_letter_subject("");
  while (true) {
    auto msg = direct_get(next, all);
    if (!msg) return std::move(msg).error();
    if (*msg == nullptr) return {};
    std::uint64_t seq = sequence_of(msg->get());
    if (seq < next) return Error::internal("nats bus: dead-letter stream returned an old sequence");
    std::string id(nats_header(msg->get(), "Nats-Msg-Id"));
    std::lock_guard lock(mu_);
    if (!id.empty()) index_[id] = Entry{seq, consumer_of(msg->get())};
    scanned_to_ = seq;
    next = seq + 1;
  }
}

Result<NatsDeadLetters::Found> NatsDeadLetters::find(std::string_view id) {
  if (!Uuid::parse(id)) return Error::not_found("no dead letter " + std::string(id));
  const std::string key(id);
  for (int round = 0; round < 2; ++round) {
    std::uint64_t seq = 0;
    {
      std::lock_guard lock(mu_);
      if (auto it = index_.find(key); it != index_.end()) seq = it->second.seq;
    }
    if (seq != 0) {
      auto msg = direct_get(seq, {});
      if (!msg) return std::move(msg).error();
      if (*msg != nullptr && nats_header(msg->get(), "Nats-Msg-Id") == id) {
        auto letter = decode_letter(msg->get());
        if (!letter) return std::move(letter).error();
        return Found{std::move(letter).value(), seq};
      }
      // Removed (by this or another process): sequences are never reused.
      std::lock_guard lock(mu_);
      index_.erase(key);
      return Error::not_found("no dead letter " + key);
    }
    if (round == 0) {
      if (auto st = scan_new(); !st) return std::move(st).error();
    }
  }
  return Error::not_found("no dead letter " + key);
}

Result<DeadLetter> NatsDeadLetters::get(std::string_view id) {
  auto found = find(id);
  if (!found) return std::move(found).error();
  return std::move(found->letter);
}

Status NatsDeadLetters::remove(std::string_view id) {
  auto found = find(id);
  if (!found) return std::move(found).error();
  return remove_at(found->seq, id);
}

Status NatsDeadLetters::remove_at(std::uint64_t seq, std::string_view id) {
  jsOptions jo = conn_->js_options();
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s =
      js_DeleteMsg(conn_->js(), conn_->options().dead_letter_stream.c_str(), seq, &jo, &jerr);
  {
    std::lock_guard lock(mu_);
    index_.erase(std::string(id));
  }
  if (s != NATS_OK) {
    if (nats_not_found(s, jerr) || jerr == JSSequenceNotFoundErr ||
        jerr == JSStreamMsgDeleteFailed) {
      // "no message found": removed in between.
      return Error::not_found("no dead letter " + std::string(id));
    }
    return nats_status_error(s, "nats bus: remove a dead letter", jerr);
  }
  return {};
}

Result<std::uint64_t> NatsDeadLetters::purge(std::string_view consumer) {
  if (!consumer.empty()) {
    if (auto st = validate_consumer_name(consumer); !st) return std::move(st).error();
  }
  // The raw API request, because its reply says how many it purged
  // (js_PurgeStream does not).
  const std::string subject = "$JS.API.STREAM.PURGE." + conn_->options().dead_letter_stream;
  const std::string body = nlohmann::json{{"filter", conn_->dead_letter_subject(consumer)}}.dump();
  natsMsg* raw = nullptr;
  natsStatus s = natsConnection_Request(&raw, conn_->nc(), subject.c_str(), body.data(),
                                        static_cast<int>(body.size()),
                                        conn_->options().request_timeout.count());
  NatsMsgPtr reply(raw);
  if (s != NATS_OK) return nats_status_error(s, "nats bus: purge dead letters");
  auto json = nlohmann::json::parse(
      std::string_view(natsMsg_GetData(reply.get()), natsMsg_GetDataLength(reply.get())), nullptr,
      false);
  if (json.is_discarded() || !json.is_object()) {
    return Error::internal("nats bus: purge dead letters: unreadable reply");
  }
  if (json.contains("error")) {
    return Error::internal("nats bus: purge dead letters: " +
                           json["error"].value("description", std::string("error")));
  }
  std::uint64_t purged = json.value("purged", std::uint64_t{0});
  std::lock_guard lock(mu_);
  std::erase_if(index_,
                [&](const auto& kv) { return consumer.empty() || kv.second.consumer == consumer; });
  return purged;
}

Result<std::map<std::string, std::uint64_t>> NatsDeadLetters::counts() {
  const std::string filter = conn_->dead_letter_subject("");
  jsOptions jo = conn_->js_options();
  jo.Stream.Info.SubjectsFilter = filter.c_str();
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s =
      js_GetStreamInfo(&si, conn_->js(), conn_->options().dead_letter_stream.c_str(), &jo, &jerr);
  if (s != NATS_OK) return nats_status_error(s, "nats bus: dead-letter counts", jerr);
  std::map<std::string, std::uint64_t> counts;
  const std::string& p = conn_->options().dead_letter_prefix;
  if (const jsStreamStateSubjects* subjects = si->State.Subjects; subjects != nullptr) {
    for (int i = 0; i < subjects->Count; ++i) {
      std::string_view subject = subjects->List[i].Subject;
      if (subject.size() > p.size() + 1) {
        counts[std::string(subject.substr(p.size() + 1))] += subjects->List[i].Msgs;
      }
    }
  }
  jsStreamInfo_Destroy(si);
  return counts;
}

}  // namespace office::bus
