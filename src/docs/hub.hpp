#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.hpp"
#include "core/executor.hpp"
#include "core/scheduler.hpp"
#include "docs/access.hpp"
#include "docs/service.hpp"
#include "storage/database.hpp"

namespace office::docs {

struct HubOptions {
  /// A milestone (the whole text) is written every this many ops, so loading
  /// a document replays at most this many.
  std::int64_t milestone_every = 500;
  /// Recent ops each open document keeps in memory (to transform late ops,
  /// answer resubscriptions and place presence); older ones come from the log.
  std::size_t recent_ops = 1000;
  /// Largest document text, in UTF-8 bytes.
  std::size_t max_text_bytes = 8u << 20;
  /// Largest op: inserted text bytes, and components.
  std::size_t max_op_bytes = 512u << 10;
  std::size_t max_op_components = 10000;
  /// Largest presence value (JSON bytes).
  std::size_t max_presence_bytes = 4096;
  /// Requests waiting per open document before callers are refused
  /// (kResourceExhausted).
  std::size_t max_queue = 4096;
  /// Ops applied but not yet durable per document before submits are refused.
  std::size_t max_uncommitted = 20000;
  /// An open document without subscribers is dropped from memory after this.
  std::chrono::milliseconds idle_evict{60000};
  /// How long a caller's role on a document is trusted without asking the
  /// catalogue again (changed shares are pushed at once: access_changed).
  std::int64_t role_ttl_ms = 10000;
};

/// The real-time side of the documents module (SyncService): one open
/// document per (tenant, id) in memory, owned by a SerialExecutor on the docs
/// pool, with the text at two versions: the head (every op applied, the
/// base for transforms) and the durable one (ops whose commit is durable,
/// what readers and subscribers see). Submits are applied at once and
/// committed with Database::write_async (pipelined, group commit, one write
/// lane per document); their acknowledgement and broadcast happen when the
/// commit is durable, in version order. See docs/realtime.md.
/// Thread-safe. db, access, pool, clock and scheduler must outlive it;
/// call shutdown() before they go.
class Hub final : public SyncService, public AccessObserver {
 public:
  Hub(storage::Database& db, AccessResolver& access, ThreadPool& pool, const Clock& clock,
      Scheduler& scheduler, HubOptions options = {});
  ~Hub() override;
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  void fetch(const Principal& p, std::string_view doc_id, Callback<Snapshot> done) override;
  void ops(const Principal& p, std::string_view doc_id, std::int64_t from, std::int64_t to,
           Callback<std::vector<CommittedOpPtr>> done) override;
  void subscribe(const Principal& p, std::string_view doc_id,
                 std::optional<std::int64_t> from_version,
                 const std::shared_ptr<DocListener>& listener, Callback<Subscribed> done) override;
  void unsubscribe(std::string_view tenant_id, std::string_view doc_id,
                   const DocListener* listener) override;
  void submit(const Principal& p, Submit s, Callback<Submitted> done) override;
  void snapshot_at(const Principal& p, std::string_view doc_id, std::int64_t version,
                   Callback<Snapshot> done) override;
  void snapshot_at_time(const Principal& p, std::string_view doc_id, std::int64_t ts_ms,
                        Callback<Snapshot> done) override;
  void restore_version(const Principal& p, std::string_view doc_id, std::int64_t version,
                       Callback<Submitted> done) override;
  void presence(const Principal& p, std::string_view doc_id, const DocListener* listener,
                std::string_view presence_id, std::string_view value_json,
                std::int64_t version) override;

  void access_changed(std::string_view tenant_id, std::string_view doc_id) override;
  void document_gone(std::string_view tenant_id, std::string_view doc_id) override;

  /// Writes a milestone of every open document, waits (up to `wait`) for
  /// every commit in flight, and ends every subscription (kUnavailable).
  /// Later calls are refused with kUnavailable. Idempotent.
  void shutdown(std::chrono::milliseconds wait = std::chrono::seconds(10));

  struct Stats {
    std::size_t open_documents = 0;
    std::size_t subscriptions = 0;
    std::uint64_t ops_committed = 0;
    std::uint64_t evictions = 0;
  };
  Stats stats() const;

  class OpenDoc;  // hub.cpp

 private:
  friend class OpenDoc;
  using Key = std::string;  // tenant '\n' doc id
  static Key key_of(std::string_view tenant, std::string_view doc);
  // The open document for a key (made if needed); nullptr after shutdown.
  std::shared_ptr<OpenDoc> open(std::string_view tenant, std::string_view doc, bool create);
  // Runs fn on the document's executor; refuses with `overflow` if full.
  template <class T, class F>
  void dispatch(std::string_view tenant, std::string_view doc, Callback<T>& done, F&& fn);
  void forget(const Key& key, const OpenDoc* doc);
  void sweep();
  // A document's durable state, for its catalogue row: every open document
  // being edited notes it; once a second one write moves all those rows.
  struct CatalogueRow {
    std::string tenant;
    std::string id;
    std::int64_t version = 0;
    std::int64_t size = 0;
    std::int64_t ts_ms = 0;
  };
  void note_catalogue(const Key& key, const std::string& tenant, const std::string& id,
                      std::int64_t version, std::int64_t size, std::int64_t ts_ms);
  void flush_catalogue();

  storage::Database& db_;
  AccessResolver& access_;
  ThreadPool& pool_;
  const Clock& clock_;
  Scheduler& scheduler_;
  HubOptions options_;
  Scheduler::TimerId sweep_timer_ = 0;
  Scheduler::TimerId catalogue_timer_ = 0;
  std::mutex catalogue_mu_;
  std::unordered_map<Key, CatalogueRow> catalogue_;  // guarded by catalogue_mu_

  mutable std::mutex mu_;
  std::unordered_map<Key, std::shared_ptr<OpenDoc>> docs_;  // guarded by mu_
  bool shut_down_ = false;                                  // guarded by mu_
  std::atomic<std::uint64_t> ops_committed_{0};
  std::atomic<std::uint64_t> evictions_{0};
  std::atomic<std::size_t> subscriptions_{0};
};

}  // namespace office::docs
