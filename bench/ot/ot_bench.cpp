// ot_bench: transforms per second for single-component ops (the figure Seph
// Gentle quotes for his C text OT), compose, and trace replay through
// Document::apply. Run: build/release/bench/ot/ot_bench
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "ot/document.hpp"
#include "ot/op.hpp"
#include "ot/trace.hpp"

namespace ot = office::ot;

namespace {

// Pairs of single-edit ops ([pos, "x"], [pos, {"d":n}]) at nearby positions,
// the shape concurrent keystrokes have.
std::vector<std::pair<ot::Op, ot::Op>> make_pairs(bool deletes) {
  std::vector<std::pair<ot::Op, ot::Op>> pairs;
  std::uint64_t s = 42;
  auto next = [&s] { return (s = s * 6364136223846793005ULL + 1442695040888963407ULL) >> 33; };
  for (int i = 0; i < 1024; ++i) {
    const std::uint64_t p = next() % 1000;
    const std::uint64_t q = p + next() % 20;
    ot::Op a = ot::make_insert(p, "x");
    ot::Op b =
        deletes && (i % 2 == 0) ? ot::make_remove(q, 1 + next() % 3) : ot::make_insert(q, "y");
    pairs.emplace_back(std::move(a), std::move(b));
  }
  return pairs;
}

void BM_TransformInto(benchmark::State& state) {
  const auto pairs = make_pairs(state.range(0) != 0);
  ot::Op out;
  out.reserve(8);
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& [a, b] = pairs[i++ & 1023];
    benchmark::DoNotOptimize(ot::transform_into(a, b, ot::Side::kLeft, out));
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_TransformInto)->Arg(0)->Arg(1)->ArgName("with_deletes");

// Ops of three components ([p, {"d":1}, "x"], a replacement) are not single
// edits: they take transform's general loop, not its single-edit fast path.
void BM_TransformIntoGeneral(benchmark::State& state) {
  std::vector<std::pair<ot::Op, ot::Op>> pairs;
  for (auto& [a, b] : make_pairs(true)) {
    const auto replace = [](const ot::Op& op) {
      ot::Op r = op;
      const std::size_t at = r.size() - 1;
      r.insert(r.begin() + static_cast<std::ptrdiff_t>(at), ot::Component::del(1));
      if (!r.back().is_insert()) r.back() = ot::Component::insert("z");
      return r;
    };
    pairs.emplace_back(replace(a), replace(b));
  }
  ot::Op out;
  out.reserve(8);
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& [a, b] = pairs[i++ & 1023];
    benchmark::DoNotOptimize(ot::transform_into(a, b, ot::Side::kLeft, out));
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_TransformIntoGeneral);

void BM_TransformAllocating(benchmark::State& state) {
  const auto pairs = make_pairs(state.range(0) != 0);
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& [a, b] = pairs[i++ & 1023];
    auto r = ot::transform(a, b, ot::Side::kLeft);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_TransformAllocating)->Arg(0)->Arg(1)->ArgName("with_deletes");

void BM_ComposeInto(benchmark::State& state) {
  const auto pairs = make_pairs(true);
  ot::Op out;
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& [a, b] = pairs[i++ & 1023];
    benchmark::DoNotOptimize(ot::compose_into(a, b, out));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_ComposeInto);

void BM_ReplayAutomergePaper(benchmark::State& state) {
  auto trace =
      ot::load_trace(std::string(OFFICE_TEST_DATA_DIR) + "/editing-traces/automerge-paper.json.gz");
  if (!trace) {
    state.SkipWithError(trace.error().message.c_str());
    return;
  }
  std::vector<ot::Op> ops;
  for (const auto& p : trace->patches) ops.push_back(ot::patch_to_op(*trace, p));
  for (auto _ : state) {
    ot::Document doc(trace->start_content, static_cast<std::size_t>(state.range(0)));
    for (const ot::Op& op : ops) benchmark::DoNotOptimize(doc.apply(op));
    benchmark::DoNotOptimize(doc.length());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * ops.size()));
}
BENCHMARK(BM_ReplayAutomergePaper)
    ->Arg(256)
    ->Arg(512)
    ->Arg(1024)
    ->Arg(2048)
    ->Arg(4096)
    ->ArgName("chunk_bytes")
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
