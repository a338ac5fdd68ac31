// The JetStream bus against a plain loop of the raw libnats C client, on the
// same private nats-server, in one run.
//
//   nats_bench [--events 100000] [--payload 200] [--batch 256] [--rounds 3] [--url nats://...]
//
// Each round runs (a) then (b) on fresh streams:
//   (a) raw: js_PublishMsgAsync of `events` messages (Nats-Msg-Id set, the
//       body an encoded envelope of the same size as ours), wait for every
//       PubAck; then a pull subscription fetches them in batches and acks each;
//   (b) ours: NatsBus::publish_async of `events` events (done counted), wait
//       for every done; then Consumer::fetch in batches and ack() each.
// The events are made before the clock starts (the caller's work, not the
// bus's). Prints events/s per phase and publish+consume, this process's CPU
// per event (the client's cost), the medians over the rounds, and our
// overhead in % (time). Without --url it starts its own
// nats-server (bus/test_nats.hpp) in a temporary directory.
#include <nats/nats.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "bus/event.hpp"
#include "bus/nats_bus.hpp"
#include "bus/test_nats.hpp"

using office::bus::ConsumerOptions;
using office::bus::Event;
using Clock = std::chrono::steady_clock;

namespace {

struct Timing {
  double publish_s = 0;
  double consume_s = 0;
  double cpu_s = 0;  // this process's user + system CPU over both phases
  double total() const { return publish_s + consume_s; }
};

// User + system CPU of this process so far (the client's cost; the server
// is another process).
double process_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "nats_bench: %s\n", what.c_str());
  std::exit(1);
}

void check(natsStatus s, const char* what) {
  if (s != NATS_OK) die(std::string(what) + ": " + natsStatus_GetText(s));
}

std::vector<Event> make_events(int n, std::size_t payload) {
  std::vector<Event> events;
  events.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    events.push_back(office::bus::make_event("office.bench.v1.Thing", "tenant1",
                                             "docs.tenant1.e" + std::to_string(i % 16),
                                             std::string(payload, 'x')));
  }
  return events;
}

// (a) The raw libnats loop.
Timing run_raw(const std::string& url, const std::string& name, const std::vector<Event>& events,
               int batch) {
  natsConnection* nc = nullptr;
  check(natsConnection_ConnectTo(&nc, url.c_str()), "connect");
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.PublishAsync.MaxPending = 4096;  // as NatsBusOptions::max_outstanding_publishes
  jsCtx* js = nullptr;
  check(natsConnection_JetStream(&js, nc, &jo), "jetstream");

  const std::string stream = "RAW_" + name;
  const std::string prefix = "raw." + name;
  const std::string all = prefix + ".>";
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  const char* subjects[] = {all.c_str()};
  sc.Name = stream.c_str();
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.Storage = js_FileStorage;
  sc.Duplicates = 120'000'000'000LL;
  check(js_AddStream(nullptr, js, &sc, nullptr, nullptr), "add stream");
  jsConsumerConfig cc;
  jsConsumerConfig_Init(&cc);
  cc.Durable = "raw";
  cc.AckPolicy = js_AckExplicit;
  cc.FilterSubject = all.c_str();
  cc.MaxAckPending = 10000;
  check(js_AddConsumer(nullptr, js, stream.c_str(), &cc, nullptr, nullptr), "add consumer");

  // Same body size as ours: an encoded envelope of the first event.
  const std::string body = office::bus::encode_event(events.front());
  std::vector<std::string> subjects_of;
  subjects_of.reserve(events.size());
  for (const auto& e : events) subjects_of.push_back(prefix + "." + e.subject);

  Timing t;
  const double cpu0 = process_cpu_s();
  auto t0 = Clock::now();
  for (std::size_t i = 0; i < events.size(); ++i) {
    natsMsg* msg = nullptr;
    check(natsMsg_Create(&msg, subjects_of[i].c_str(), nullptr, body.data(),
                         static_cast<int>(body.size())),
          "msg");
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = events[i].id.c_str();
    natsStatus s = js_PublishMsgAsync(js, &msg, &po);
    natsMsg_Destroy(msg);  // no-op when the library took it
    check(s, "publish async");
  }
  check(js_PublishAsyncComplete(js, nullptr), "publish complete");
  t.publish_s = seconds_since(t0);

  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream.c_str();
  so.Consumer = "raw";
  natsSubscription* sub = nullptr;
  check(js_PullSubscribe(&sub, js, all.c_str(), nullptr, nullptr, &so, nullptr), "subscribe");
  t0 = Clock::now();
  std::size_t got = 0;
  while (got < events.size()) {
    natsMsgList list{nullptr, 0};
    natsStatus s = natsSubscription_Fetch(&list, sub, batch, 5000, nullptr);
    if (s != NATS_OK && s != NATS_TIMEOUT) check(s, "fetch");
    for (int i = 0; i < list.Count; ++i) check(natsMsg_Ack(list.Msgs[i], nullptr), "ack");
    got += static_cast<std::size_t>(list.Count);
    natsMsgList_Destroy(&list);
  }
  t.consume_s = seconds_since(t0);
  t.cpu_s = process_cpu_s() - cpu0;

  natsSubscription_Destroy(sub);
  js_DeleteStream(js, stream.c_str(), nullptr, nullptr);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return t;
}

// (b) The same through NatsBus.
Timing run_ours(const std::string& url, const std::string& name, std::vector<Event> events,
                int batch) {
  office::bus::NatsBusOptions o;
  o.url = url;
  o.stream = "OURS_" + name;
  o.dead_letter_stream = "OURSDL_" + name;
  o.subject_prefix = "ours." + name;
  o.dead_letter_prefix = "oursdl." + name;
  auto bus = office::bus::open_nats_bus(o);
  if (!bus) die("open: " + bus.error().message);
  ConsumerOptions co;
  co.name = "ours";
  auto consumer = (*bus)->consumer(co);
  if (!consumer) die("consumer: " + consumer.error().message);

  std::atomic<std::size_t> settled{0};
  std::atomic<std::size_t> failed{0};
  Timing t;
  const double cpu0 = process_cpu_s();
  auto t0 = Clock::now();
  const std::size_t n = events.size();
  for (auto& e : events) {
    (*bus)->publish_async(std::move(e), [&](office::Status st) {
      if (!st) ++failed;
      settled.fetch_add(1, std::memory_order_release);
    });
  }
  while (settled.load(std::memory_order_acquire) < n) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  t.publish_s = seconds_since(t0);
  if (failed > 0) die(std::to_string(failed.load()) + " publishes failed");

  t0 = Clock::now();
  std::size_t got = 0;
  while (got < n) {
    auto deliveries = (*consumer)->fetch(static_cast<std::size_t>(batch), std::chrono::seconds(5));
    if (!deliveries) die("fetch: " + deliveries.error().message);
    for (const auto& d : *deliveries) {
      if (auto st = (*consumer)->ack(d); !st) die("ack: " + st.error().message);
    }
    got += deliveries->size();
  }
  t.consume_s = seconds_since(t0);
  t.cpu_s = process_cpu_s() - cpu0;
  consumer->reset();
  bus->reset();

  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  if (natsConnection_ConnectTo(&nc, url.c_str()) == NATS_OK &&
      natsConnection_JetStream(&js, nc, nullptr) == NATS_OK) {
    js_DeleteStream(js, o.stream.c_str(), nullptr, nullptr);
    js_DeleteStream(js, o.dead_letter_stream.c_str(), nullptr, nullptr);
  }
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return t;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"NatsBus against the raw libnats client"};
  int events = 100000;
  std::size_t payload = 200;
  int batch = 256;
  int rounds = 3;
  std::string url;
  cli.add_option("--events", events, "events per run")->check(CLI::Range(1, 10'000'000));
  cli.add_option("--payload", payload, "payload bytes per event")->check(CLI::Range(0, 65536));
  cli.add_option("--batch", batch, "fetch batch")->check(CLI::Range(1, 10000));
  cli.add_option("--rounds", rounds)->check(CLI::Range(1, 99));
  cli.add_option("--url", url, "an existing nats-server -js (default: a private one)");
  std::string only;
  cli.add_option("--only", only, "run one side only (for perf record)")
      ->check(CLI::IsMember({"raw", "ours"}));
  CLI11_PARSE(cli, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  std::optional<office::bus::testing::NatsServer> server;
  if (url.empty()) {
    server.emplace();
    url = server->url();
  }
  const std::size_t envelope = office::bus::encode_event(make_events(1, payload).front()).size();
  std::printf("events per run %d, payload %zu B (envelope %zu B), fetch batch %d, rounds %d\n",
              events, payload, envelope, batch, rounds);

  std::vector<double> raw_total, ours_total, raw_pub, ours_pub, raw_con, ours_con, raw_cpu,
      ours_cpu;
  for (int r = 0; r < rounds; ++r) {
    const std::string name = "r" + std::to_string(r);
    auto evs = make_events(events, payload);
    Timing a = only == "ours" ? Timing{1, 1, 0} : run_raw(url, name, evs, batch);
    evs = make_events(events, payload);
    Timing b = only == "raw" ? Timing{1, 1, 0} : run_ours(url, name, std::move(evs), batch);
    auto rate = [&](double s) { return events / s; };
    std::printf(
        "round %d  raw: publish %6.0f/s consume %6.0f/s both %6.0f/s client CPU %5.1f us/event   "
        "ours: publish %6.0f/s consume %6.0f/s both %6.0f/s client CPU %5.1f us/event\n",
        r + 1, rate(a.publish_s), rate(a.consume_s), rate(a.total()), a.cpu_s * 1e6 / events,
        rate(b.publish_s), rate(b.consume_s), rate(b.total()), b.cpu_s * 1e6 / events);
    raw_total.push_back(rate(a.total()));
    ours_total.push_back(rate(b.total()));
    raw_pub.push_back(rate(a.publish_s));
    ours_pub.push_back(rate(b.publish_s));
    raw_con.push_back(rate(a.consume_s));
    ours_con.push_back(rate(b.consume_s));
    raw_cpu.push_back(a.cpu_s * 1e6 / events);
    ours_cpu.push_back(b.cpu_s * 1e6 / events);
  }
  const double raw = median(raw_total);
  const double ours = median(ours_total);
  std::printf(
      "median  raw: publish %6.0f/s consume %6.0f/s both %6.0f/s client CPU %5.1f us/event\n",
      median(raw_pub), median(raw_con), raw, median(raw_cpu));
  std::printf(
      "median ours: publish %6.0f/s consume %6.0f/s both %6.0f/s client CPU %5.1f us/event\n",
      median(ours_pub), median(ours_con), ours, median(ours_cpu));
  std::printf("our overhead (publish + consume, time): %+.1f%% (target <= 20%%)\n",
              (raw / ours - 1.0) * 100.0);
  return 0;
}
