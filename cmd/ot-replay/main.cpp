// ot-replay [--via=op|splice] [--repeat=N] [--batch=N] FILE.json.gz [FILE...]
//
// Replays each editing trace through office::ot::Document and prints one JSON
// line per file:
//   {"trace":"automerge-paper","patches":259778,"ms":T,"final_len":N,
//    "final_sha256":"...","ok":true,"via":"op","peak_rss_kb":K,...}
// Loading (gunzip + JSON) and building the ops happen outside the timed
// region (ops are built in batches of 1024 just before they are applied).
// --via=op (default) applies each patch as a text-unicode op through
// Document::apply, exactly the call the server makes for a client op;
// --via=splice calls Document::erase/insert directly. With --repeat=N the
// replay runs N times on fresh documents and "ms" is the fastest run
// ("ms_median" is the median); "cpu_ms" is the fastest run in thread CPU
// time (excludes time spent descheduled on a loaded machine). --batch=N sets
// how many ops are built ahead of being applied (default 1024). Exits 1 if any
// result differs from endContent.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/sha256.hpp"
#include "ot/document.hpp"
#include "ot/op.hpp"
#include "ot/trace.hpp"

namespace {

namespace ot = office::ot;

long status_kb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::size_t n = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, n, field) == 0) return std::stol(line.substr(n + 1));
  }
  return -1;
}

std::string trace_name(const std::string& path) {
  std::string base = path.substr(path.find_last_of('/') + 1);
  for (const char* ext : {".gz", ".json"}) {
    const std::size_t e = std::strlen(ext);
    if (base.size() > e && base.compare(base.size() - e, e, ext) == 0) base.resize(base.size() - e);
  }
  return base;
}

// CPU time of the calling thread: on a loaded machine it excludes the time
// the thread waits descheduled (wall-clock "ms" includes it).
std::chrono::nanoseconds thread_cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

struct RunResult {
  double ms = 0;
  double cpu_ms = 0;
  std::string text;
  std::uint64_t len = 0;
  std::size_t doc_bytes = 0;
  bool ok = true;
  std::string error;
};

// Ops are built in batches outside the timed region and applied right after,
// so each op is cache-warm as it is in the server right after decoding; only
// Document::apply is timed. The batch's ops are rewritten in place (their
// component buffers reused), as a server reuses its decode buffers.
std::size_t g_batch = 1024;  // --batch

RunResult run_ops(const ot::Trace& trace) {
  RunResult r;
  ot::Document doc(trace.start_content);
  const std::size_t batch_size = g_batch;
  std::vector<ot::Op> batch(batch_size);
  std::chrono::steady_clock::duration elapsed{};
  std::chrono::nanoseconds cpu{};
  for (std::size_t i = 0; i < trace.patches.size() && r.ok; i += batch_size) {
    const std::size_t count = std::min(trace.patches.size() - i, batch_size);
    for (std::size_t k = 0; k < count; ++k) ot::patch_to_op(trace, trace.patches[i + k], batch[k]);
    const auto c0 = thread_cpu_now();
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t k = 0; k < count; ++k) {
      const ot::Op& op = batch[k];
      if (ot::Status s = doc.apply(op); !s) {
        r.ok = false;
        r.error = s.error().message;
        break;
      }
    }
    elapsed += std::chrono::steady_clock::now() - t0;
    cpu += thread_cpu_now() - c0;
  }
  r.ms = std::chrono::duration<double, std::milli>(elapsed).count();
  r.cpu_ms = std::chrono::duration<double, std::milli>(cpu).count();
  r.len = doc.length();
  r.doc_bytes = doc.allocated_bytes();
  r.text = doc.to_string();
  return r;
}

RunResult run_splice(const ot::Trace& trace) {
  RunResult r;
  ot::Document doc(trace.start_content);
  const auto c0 = thread_cpu_now();
  const auto t0 = std::chrono::steady_clock::now();
  for (const ot::TracePatch& p : trace.patches) {
    if (p.del > 0) doc.erase(p.pos, p.del);
    if (p.text_len > 0) doc.insert(p.pos, trace.text(p), p.text_cps);
  }
  const auto t1 = std::chrono::steady_clock::now();
  r.cpu_ms = std::chrono::duration<double, std::milli>(thread_cpu_now() - c0).count();
  r.ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  r.len = doc.length();
  r.doc_bytes = doc.allocated_bytes();
  r.text = doc.to_string();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string via = "op";
  int repeat = 1;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--via=", 0) == 0) {
      via = a.substr(6);
    } else if (a.rfind("--batch=", 0) == 0) {
      g_batch = static_cast<std::size_t>(std::max(1, std::atoi(a.c_str() + 8)));
    } else if (a.rfind("--repeat=", 0) == 0) {
      repeat = std::max(1, std::atoi(a.c_str() + 9));
    } else if (a == "-h" || a == "--help") {
      std::cout
          << "usage: ot-replay [--via=op|splice] [--repeat=N] [--batch=N] FILE.json.gz [FILE...]\n";
      return 0;
    } else {
      files.push_back(a);
    }
  }
  if (files.empty() || (via != "op" && via != "splice")) {
    std::cerr
        << "usage: ot-replay [--via=op|splice] [--repeat=N] [--batch=N] FILE.json.gz [FILE...]\n";
    return 2;
  }
  bool all_ok = true;
  for (const std::string& path : files) {
    nlohmann::ordered_json out;
    out["trace"] = trace_name(path);
    auto trace = ot::load_trace(path);
    if (!trace) {
      out["ok"] = false;
      out["error"] = trace.error().message;
      std::cout << out.dump() << std::endl;
      all_ok = false;
      continue;
    }
    std::vector<double> times;
    std::vector<double> cpu_times;
    RunResult r;
    for (int k = 0; k < repeat; ++k) {
      r = via == "op" ? run_ops(*trace) : run_splice(*trace);
      times.push_back(r.ms);
      cpu_times.push_back(r.cpu_ms);
    }
    std::sort(times.begin(), times.end());
    std::sort(cpu_times.begin(), cpu_times.end());
    const bool ok = r.ok && r.text == trace->end_content;
    all_ok = all_ok && ok;
    out["patches"] = trace->patches.size();
    out["ms"] = times.front();
    if (repeat > 1) out["ms_median"] = times[times.size() / 2];
    out["cpu_ms"] = cpu_times.front();
    out["final_len"] = r.len;
    out["final_sha256"] = office::sha256_hex(r.text);
    out["ok"] = ok;
    if (!r.error.empty()) out["error"] = r.error;
    out["via"] = via;
    out["final_bytes"] = r.text.size();
    out["doc_alloc_bytes"] = r.doc_bytes;
    out["peak_rss_kb"] = status_kb("VmHWM:");
    std::cout << out.dump() << std::endl;
  }
  return all_ok ? 0 : 1;
}
