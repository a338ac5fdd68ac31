// One WebSocket connection: the handshake (Beast), then our own framing on the
// socket (detail/ws_frame.hpp): a read loop, and a bounded outbound queue
// written with one sendmsg per batch of frames.
//
// Why not Beast after the handshake: a busy document sends each subscriber
// many small messages, and one system call per message was most of the
// server's time (docs/benchmarks.md). Writing a batch of frames in one call
// needs the writer to own every byte that goes out on the socket, and Beast
// writes pongs (from inside its read) and keep-alive pings (from its timer)
// on its own. So the session frames everything itself: data, ping, pong and
// close all go through one queue.
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <optional>

#include <spdlog/spdlog.h>

#include "core/log.hpp"
#include "net/detail/server_state.hpp"
#include "net/detail/ws_frame.hpp"

namespace office::net::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

/// The server's view of a SharedMessage's body (its budget bookkeeping).
struct SharedMessageAccess {
  using Body = SharedMessage::Body;
  static std::shared_ptr<Body> body(SharedMessage&& m) { return std::move(m.body_); }
};

namespace {

// After a message, a read buffer larger than this is given back, so one large
// message does not pin its size for the life of an idle connection.
constexpr std::size_t kKeepReadBuffer = 4096;
// Queue entries per sendmsg (two iovecs each: header and payload; a batch
// framed already is one).
constexpr std::size_t kFramesPerWrite = 128;
// What one read takes from the socket (a buffer per I/O thread, not per
// connection: an idle connection holds no read buffer).
constexpr std::size_t kReadChunk = 64 * 1024;

class WsSession;

// One queued outbound frame: the session's own bytes, or a shared message.
// Knows how it was counted against the server-wide budget, and gives that back.
// Control frames (ping, pong, close) are the session's own and never counted.
class Outbound {
 public:
  Outbound() = default;
  explicit Outbound(std::string text, WsOpcode op = WsOpcode::kText)
      : owned_(std::move(text)), opcode_(op) {}
  explicit Outbound(std::shared_ptr<SharedMessageAccess::Body> body) : shared_(std::move(body)) {}
  Outbound(Outbound&& o) noexcept
      : owned_(std::move(o.owned_)),
        shared_(std::move(o.shared_)),
        budget_(std::exchange(o.budget_, nullptr)),
        counted_once_(o.counted_once_),
        opcode_(o.opcode_) {}
  Outbound& operator=(Outbound&& o) noexcept {
    if (this != &o) {
      release();
      owned_ = std::move(o.owned_);
      shared_ = std::move(o.shared_);
      budget_ = std::exchange(o.budget_, nullptr);
      counted_once_ = o.counted_once_;
      opcode_ = o.opcode_;
    }
    return *this;
  }
  Outbound(const Outbound&) = delete;
  Outbound& operator=(const Outbound&) = delete;
  ~Outbound() { release(); }

  std::string_view view() const { return shared_ ? std::string_view(shared_->text) : owned_; }
  std::size_t size() const { return shared_ ? shared_->text.size() : owned_.size(); }
  // A batch of messages framed already (SharedMessage::frames): written as is.
  bool framed() const { return shared_ && shared_->frames > 0; }
  // Messages it carries (what the queue bounds count).
  std::size_t messages() const { return framed() ? shared_->frames : 1; }
  // Bytes on the wire.
  std::size_t wire_size() const { return framed() ? size() : frame_header_size(size()) + size(); }
  WsOpcode opcode() const { return opcode_; }
  bool control() const { return (static_cast<unsigned>(opcode_) & 0x8) != 0; }

  // Counts the bytes in the server-wide budget. A shared message is counted by
  // the first queue entry of this server that holds it, and given back by the
  // last one; a shared message first queued by another server is counted like
  // a private one. False, with nothing counted, when the budget is exhausted.
  bool acquire(ByteBudget& budget) {
    const std::size_t n = size();
    if (shared_) {
      const void* expected = nullptr;
      const void* owner = shared_->owner.load(std::memory_order_acquire);
      if (owner == nullptr && shared_->owner.compare_exchange_strong(expected, &budget))
        owner = &budget;
      else if (owner == nullptr)
        owner = expected;
      if (owner == &budget) {
        if (shared_->holders.fetch_add(1, std::memory_order_acq_rel) == 0 && !budget.try_add(n)) {
          // Not counted. If another entry joined meanwhile it relies on these
          // bytes being counted: count them anyway and let it keep them.
          if (shared_->holders.fetch_sub(1, std::memory_order_acq_rel) == 1) return false;
          budget.force_add(n);
          return false;
        }
        budget_ = &budget;
        counted_once_ = true;
        return true;
      }
    }
    if (!budget.try_add(n)) return false;
    budget_ = &budget;
    counted_once_ = false;
    return true;
  }

  // Gives the bytes back to the budget and frees the message (written or dropped).
  void release() {
    if (budget_) {
      if (!counted_once_) {
        budget_->remove(size());
      } else if (shared_->holders.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        budget_->remove(size());
      }
      budget_ = nullptr;
    }
    shared_.reset();
    std::string().swap(owned_);
  }

 private:
  std::string owned_;
  std::shared_ptr<SharedMessageAccess::Body> shared_;
  ByteBudget* budget_ = nullptr;  // set while counted
  bool counted_once_ = false;     // shared: counted once per server
  WsOpcode opcode_ = WsOpcode::kText;
};

// What the application holds. A weak reference, so an application that keeps it
// after the server is gone holds no socket (sockets must not outlive their io_context).
class WsHandle final : public WebSocketSession {
 public:
  WsHandle(std::weak_ptr<WsSession> s, std::uint64_t id) : session_(std::move(s)), id_(id) {}
  bool send_text(std::string message) override;
  bool send_shared(SharedMessage message) override;
  void close(CloseCode code, std::string reason) override;
  bool is_open() const override;
  std::uint64_t id() const override { return id_; }

 private:
  std::weak_ptr<WsSession> session_;
  std::uint64_t id_;
};

// Every handler runs on the connection's io_context, which one thread runs:
// the members marked "strand only" need no lock.
class WsSession final : public Connection, public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(tcp::socket socket, ServerState& state, std::unique_ptr<WebSocketHandler> handler,
            Slot connection, Slot websocket)
      : sock_(socket.get_executor()),
        timer_(socket.get_executor()),
        flush_timer_(socket.get_executor()),
        handshake_(std::in_place, std::move(socket)),
        state_(state),
        handler_(std::move(handler)),
        id_(state.next_ws_id.fetch_add(1)),
        connection_(std::move(connection)),
        websocket_(std::move(websocket)),
        reader_(state.options.ws_max_message_bytes) {}
  ~WsSession() override {
    note_read_buffer(0);
    if (registry_id_ != 0) state_.registry.remove(registry_id_);
  }

  void start(const Request& req) {
    registry_id_ = state_.registry.add(weak_from_this());
    trace_id_ = req.trace.trace_id_hex();
    upgrade_.method(beast::http::verb::get);
    upgrade_.target(req.target);
    upgrade_.version(11);
    for (const auto& [name, value] : req.headers) upgrade_.insert(name, value);

    websocket::stream_base::timeout t{};
    t.handshake_timeout = state_.options.request_timeout;
    t.idle_timeout = websocket::stream_base::none();  // ours, after the handshake
    t.keep_alive_pings = false;
    handshake_->set_option(t);
    handshake_->set_option(websocket::stream_base::decorator(
        [tp = req.trace.to_header()](websocket::response_type& res) {
          res.set("traceparent", tp);
        }));
    handshake_->async_accept(
        upgrade_, [self = shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
  }

  void drain() override { close(CloseCode::kGoingAway, "server shutting down"); }

  bool is_open() const { return open_.load(std::memory_order_acquire); }

  bool send(Outbound message) {
    if (!is_open()) return false;
    std::unique_lock lock(mu_);
    if (close_requested_) return false;
    const auto& o = state_.options;
    const char* full = nullptr;
    const std::size_t count = queued_count_ + writing_count_.load(std::memory_order_relaxed);
    const std::size_t bytes = queued_bytes_ + writing_bytes_.load(std::memory_order_relaxed);
    const std::size_t messages = message.messages();
    if (count + messages > o.ws_max_queued_messages) {
      full = "messages";
    } else if (bytes + message.size() > o.ws_max_queued_bytes) {
      full = "bytes";
    } else if (!message.acquire(state_.ws_queued)) {
      full = "server-wide bytes";
    }
    if (full) {
      lock.unlock();
      spdlog::warn("net: WebSocket {} send queue full ({}); closing with 1013", id_, full);
      close(CloseCode::kTryAgainLater, "send queue full", /*flush=*/false);
      return false;
    }
    queued_bytes_ += message.size();
    queued_count_ += messages;
    pending_.push_back(std::move(message));
    if (write_scheduled_) return true;  // the write loop will pick it up
    write_scheduled_ = true;
    lock.unlock();
    asio::post(sock_.get_executor(), [self = shared_from_this()] { self->write_next(); });
    return true;
  }

  // flush: what is queued is sent before the close frame (the application's
  // close, a server drain); otherwise it is dropped (a queue overflow, a
  // protocol error), and the close frame follows the frame being written.
  void close(CloseCode code, std::string reason, bool flush = true) {
    {
      std::lock_guard lock(mu_);
      if (close_requested_) return;
      close_requested_ = true;
    }
    open_.store(false, std::memory_order_release);
    asio::post(sock_.get_executor(),
               [self = shared_from_this(), code, reason = std::move(reason), flush]() mutable {
                 self->do_close(static_cast<std::uint16_t>(code), reason, flush);
               });
  }

 private:
  void on_accept(beast::error_code ec) {
    upgrade_ = {};
    if (ec) {
      spdlog::debug("net: WebSocket handshake failed: {}", ec.message());
      handshake_.reset();
      handler_.reset();
      return;
    }
    // From here on the socket is ours alone.
    sock_ = std::move(handshake_->next_layer());
    handshake_.reset();
    boost::system::error_code nb;
    sock_.non_blocking(true, nb);
    if (nb) {  // never seen; the handler has not been opened, so it hears nothing
      spdlog::warn("net: WebSocket {}: cannot make the socket non-blocking: {}", id_, nb.message());
      sock_.close(nb);
      handler_.reset();
      return;
    }
    bool close_early;
    {
      std::lock_guard lock(mu_);
      close_early = close_requested_;  // drained during the handshake; do_close is queued
    }
    open_.store(!close_early, std::memory_order_release);
    opened_ = true;
    log::ScopedTrace scope(trace_id_);
    guarded("on_open",
            [&] { handler_->on_open(std::make_shared<WsHandle>(weak_from_this(), id_)); });
    if (finished_) return;
    if (close_started_) {  // do_close ran during the handshake: send the close frame now
      arm_close_wait();
      kick();
    } else {
      arm_idle();
    }
    do_read();
  }

  template <class F>
  void guarded(const char* what, F&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      spdlog::error("net: WebSocket handler {} threw: {}", what, log::Escaped{e.what()});
      do_close(static_cast<std::uint16_t>(CloseCode::kInternalError), "internal error", false);
    } catch (...) {
      spdlog::error("net: WebSocket handler {} threw a non-exception", what);
      do_close(static_cast<std::uint16_t>(CloseCode::kInternalError), "internal error", false);
    }
  }

  // --- reading -----------------------------------------------------------------

  void do_read() {
    sock_.async_wait(
        tcp::socket::wait_read,
        [self = shared_from_this()](boost::system::error_code ec) { self->on_readable(ec); });
  }

  void on_readable(boost::system::error_code ec) {
    if (finished_) return;
    if (ec) return finish(1006);
    static thread_local char buf[kReadChunk];
    for (int round = 0; round < 4; ++round) {
      const ssize_t n = ::recv(sock_.native_handle(), buf, sizeof buf, 0);
      if (n == 0) return finish(1006);  // the peer closed TCP (after its close frame: reported)
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return finish(1006);
      }
      received_ = true;
      char* p = buf;
      if (!consume(p, buf + n)) return;  // finished, or the peer's close is in: no more reading
      if (static_cast<std::size_t>(n) < sizeof buf) break;
    }
    reader_.shrink(kKeepReadBuffer);
    note_read_buffer(reader_.buffer_capacity());
    do_read();
  }

  // Handles what the bytes hold; false when reading ends here.
  bool consume(char*& p, char* end) {
    while (true) {
      const WsEvent e = reader_.next(p, end);
      switch (e.kind) {
        case WsEvent::Kind::kNeedMore:
          return true;
        case WsEvent::Kind::kMessage:
          if (close_started_) break;  // closing: the peer's data is not read any more
          if (e.binary) {
            do_close(static_cast<std::uint16_t>(CloseCode::kUnsupportedData),
                     "binary messages are not supported", false);
            break;
          }
          {
            log::ScopedTrace scope(trace_id_);
            guarded("on_message", [&] { handler_->on_message(e.payload); });
          }
          if (finished_) return false;
          break;
        case WsEvent::Kind::kPing:
          if (!close_started_) queue_control(WsOpcode::kPong, e.payload);
          break;
        case WsEvent::Kind::kPong:
          break;
        case WsEvent::Kind::kClose:
          peer_closed_ = true;
          peer_code_ = e.code;
          if (!close_started_) {
            peer_initiated_ = true;
            // Echo its code (none if it sent none), then close TCP.
            do_close(e.code == 1005 ? 0 : e.code, "", false);
          } else if (close_sent_) {
            finish();
          }
          return false;
        case WsEvent::Kind::kFail:
          spdlog::debug("net: WebSocket {} failed: {}", id_, e.reason);
          do_close(e.code, e.reason, false);
          // The reader takes nothing more; reading goes on until the peer
          // closes TCP or the close wait ends, so its close frame gets no RST.
          return true;
      }
      if (finished_) return false;
    }
  }

  // Keeps the server's total of read buffer capacity (ServerStats) up to date.
  void note_read_buffer(std::size_t capacity) {
    if (capacity == noted_read_buffer_) return;
    state_.ws_read_buffer_bytes.fetch_add(capacity - noted_read_buffer_);  // wraps when smaller
    noted_read_buffer_ = capacity;
  }

  // --- idle connections and the close handshake ---------------------------------

  // Every half idle timeout: if nothing came in since the last tick, a ping;
  // if nothing came in after the ping either, the connection is dropped.
  void arm_idle() {
    const auto half = state_.options.idle_timeout / 2;
    if (half.count() <= 0) return;
    timer_.expires_after(half);
    timer_.async_wait(
        [self = shared_from_this(), gen = ++timer_gen_](boost::system::error_code ec) {
          if (ec || self->finished_ || gen != self->timer_gen_) return;
          self->on_idle_tick();
        });
  }

  void on_idle_tick() {
    if (received_) {
      received_ = false;
      ping_outstanding_ = false;
      return arm_idle();
    }
    if (!ping_outstanding_ && !close_started_) {
      ping_outstanding_ = true;
      queue_control(WsOpcode::kPing, {});
      return arm_idle();
    }
    spdlog::debug("net: WebSocket {} idle for the idle timeout; dropped", id_);
    finish(1006);
  }

  // Once we close: request_timeout for our close frame to go out and the
  // peer's to come back.
  void arm_close_wait() {
    timer_.expires_after(state_.options.request_timeout);
    timer_.async_wait(
        [self = shared_from_this(), gen = ++timer_gen_](boost::system::error_code ec) {
          if (ec || self->finished_ || gen != self->timer_gen_) return;
          self->finish();
        });
  }

  void do_close(std::uint16_t code, std::string_view reason, bool flush) {
    if (close_started_ || finished_) return;
    {
      std::lock_guard lock(mu_);
      close_requested_ = true;
    }
    open_.store(false, std::memory_order_release);
    close_started_ = true;
    flush_ = flush;
    close_code_ = code;
    close_payload_ = code == 0 ? std::string() : close_payload(code, reason);
    reader_.discard_data();
    if (!opened_) return;  // on_accept sends it once the handshake is done
    arm_close_wait();      // the whole close handshake, flush included
    if (!flush) {
      // What has not started to be written goes; the frame being written
      // finishes (its first bytes are on the wire).
      const std::size_t keep = write_index_ + (write_offset_ > 0 ? 1 : 0);
      drop_from(keep);
      cancel_flush_timer();
    }
    kick();
  }

  // --- writing -------------------------------------------------------------------

  // Starts the write loop if nothing is going to run it.
  void kick() {
    {
      std::lock_guard lock(mu_);
      if (write_scheduled_) {
        if (!flush_armed_) return;  // posted, running or waiting for the socket
      }
      write_scheduled_ = true;
    }
    if (flush_armed_ && !close_started_) return;  // the flush timer runs it (a pong can wait)
    cancel_flush_timer();
    write_next();
  }

  void queue_control(WsOpcode op, std::string_view payload) {
    if (close_queued_) return;
    // A pong answers the latest ping only (RFC 6455 5.5.3): a flood of pings
    // from a client that does not read costs one queued frame.
    for (auto& c : control_) {
      if (c.opcode() == op) {
        c = Outbound(std::string(payload), op);
        return;
      }
    }
    control_.emplace_back(std::string(payload), op);
    kick();
  }

  // Writes until the queue is empty or the socket is full. Runs on the strand;
  // safe to call when there is nothing to do.
  void write_next() {
    while (!finished_ && !write_waiting_) {
      if (write_index_ == writing_.size() && !refill()) return;
      if (!write_some()) return;
    }
  }

  // The next batch: control frames first, then everything queued, then (when
  // closing and the queue is flushed) the close frame. False when there is
  // nothing to write now (write_scheduled_ is then false, or the flush timer
  // will run the loop).
  bool refill() {
    writing_.clear();
    write_index_ = 0;
    write_offset_ = 0;
    if (close_queued_) {  // the close frame is out: nothing follows it
      drop_from(0);
      std::lock_guard lock(mu_);
      write_scheduled_ = false;
      return false;
    }
    if (!control_.empty() && !(close_started_ && !flush_)) {
      writing_.swap(control_);
      return true;
    }
    control_.clear();
    {
      std::unique_lock lock(mu_);
      if (!pending_.empty() && !(close_started_ && !flush_)) {
        const auto window = state_.options.ws_write_coalesce;
        if (window.count() > 0 && !close_started_) {
          // Right after a write, wait for the rest of the window: under load a
          // socket gets one write per window instead of one per message.
          const auto due = last_write_ + window;
          if (Clock::now() < due) {
            lock.unlock();
            arm_flush_timer(due);  // write_scheduled_ stays true
            return false;
          }
        }
        writing_.swap(pending_);
        // The batch's bytes now count as being written (the strand's own
        // counters: the write loop gives them back without this lock).
        writing_bytes_.store(queued_bytes_, std::memory_order_relaxed);
        writing_count_.store(queued_count_, std::memory_order_relaxed);
        queued_bytes_ = 0;
        queued_count_ = 0;
        return true;
      }
      if (!close_started_) {
        write_scheduled_ = false;
        return false;
      }
    }
    // Closing, and the queue is flushed (or dropped): the close frame.
    drop_from(0);
    writing_.emplace_back(close_payload_, WsOpcode::kClose);
    close_queued_ = true;
    return true;
  }

  void arm_flush_timer(Clock::time_point due) {
    flush_armed_ = true;
    flush_timer_.expires_at(due);
    flush_timer_.async_wait(
        [self = shared_from_this(), gen = ++flush_gen_](boost::system::error_code ec) {
          if (gen != self->flush_gen_) return;  // cancelled or re-armed since
          self->flush_armed_ = false;
          if (ec || self->finished_) return;
          self->write_next();
        });
  }

  void cancel_flush_timer() {
    if (!flush_armed_) return;
    flush_armed_ = false;
    ++flush_gen_;
    flush_timer_.cancel();
  }

  // One sendmsg of up to kFramesPerWrite frames from writing_. False when the
  // loop must stop (the socket is full: a wait is armed; or it failed).
  bool write_some() {
    iovec iov[2 * kFramesPerWrite];
    unsigned char headers[kFramesPerWrite][kMaxServerHeader];
    std::size_t count = 0;
    const std::size_t last = std::min(writing_.size(), write_index_ + kFramesPerWrite);
    for (std::size_t i = write_index_; i < last; ++i) {
      const Outbound& m = writing_[i];
      unsigned char* h = headers[i - write_index_];
      const std::size_t hn = m.framed() ? 0 : write_frame_header(h, m.opcode(), m.size());
      std::size_t skip = i == write_index_ ? write_offset_ : 0;
      if (skip < hn) {
        iov[count++] = {h + skip, hn - skip};
        skip = 0;
      } else {
        skip -= hn;
      }
      if (m.size() > skip) {
        iov[count++] = {const_cast<char*>(m.view().data()) + skip, m.size() - skip};
      }
    }
    msghdr mh{};
    mh.msg_iov = iov;
    mh.msg_iovlen = count;
    const ssize_t n = ::sendmsg(sock_.native_handle(), &mh, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) return true;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        write_waiting_ = true;
        sock_.async_wait(tcp::socket::wait_write,
                         [self = shared_from_this()](boost::system::error_code ec) {
                           self->write_waiting_ = false;
                           if (self->finished_) return;
                           if (ec) return self->finish(1006);
                           self->write_next();
                         });
        return false;
      }
      finish(1006);  // the peer is gone; the read side would see it too
      return false;
    }
    last_write_ = Clock::now();
    advance(static_cast<std::size_t>(n));
    return !finished_;
  }

  // `n` bytes of writing_ went out: completed frames are given back.
  void advance(std::size_t n) {
    std::size_t bytes = 0, frames = 0;
    bool close_out = false;
    while (n > 0 && write_index_ < writing_.size()) {
      Outbound& m = writing_[write_index_];
      const std::size_t left = m.wire_size() - write_offset_;
      if (n < left) {
        write_offset_ += n;
        break;
      }
      n -= left;
      if (m.opcode() == WsOpcode::kClose) {
        close_out = true;
      } else if (!m.control()) {
        bytes += m.size();
        frames += m.messages();
      }
      m.release();  // the budget and the bytes, now
      ++write_index_;
      write_offset_ = 0;
    }
    if (frames > 0) {
      writing_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
      writing_count_.fetch_sub(frames, std::memory_order_relaxed);
    }
    if (close_out) on_close_sent();
  }

  void on_close_sent() {
    close_sent_ = true;
    boost::system::error_code ignored;
    sock_.shutdown(tcp::socket::shutdown_send, ignored);  // our FIN follows the close frame
    if (peer_closed_) finish();  // else the close wait runs: the peer's frame or EOF ends it
  }

  // Drops writing_ from `from` on, with pending_ and control frames. No
  // sendmsg is in progress when this runs (strand).
  void drop_from(std::size_t from) {
    std::size_t bytes = 0, frames = 0;
    for (std::size_t i = from; i < writing_.size(); ++i) {
      if (!writing_[i].control()) {
        bytes += writing_[i].size();
        frames += writing_[i].messages();
      }
    }
    if (from < writing_.size()) writing_.resize(from);
    writing_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
    writing_count_.fetch_sub(frames, std::memory_order_relaxed);
    control_.clear();
    std::vector<Outbound> dropped;
    {
      std::lock_guard lock(mu_);
      dropped.swap(pending_);
      queued_bytes_ = 0;
      queued_count_ = 0;
    }
    // `dropped` releases its budget here, outside the lock.
  }

  // The connection is over: the socket closes, the handler hears last. The
  // code it hears: the peer's if the peer closed first, else ours if we
  // closed, else `abnormal` (1006: no close handshake).
  void finish(std::uint16_t abnormal = 1006) {
    if (finished_) return;
    finished_ = true;
    open_.store(false, std::memory_order_release);
    std::uint16_t code = abnormal;
    if (peer_initiated_ || (peer_closed_ && close_code_ == 0)) {
      code = peer_code_;
    } else if (close_code_ != 0) {
      code = close_code_;
    }
    {
      std::lock_guard lock(mu_);
      close_requested_ = true;
    }
    boost::system::error_code ignored;
    timer_.cancel();
    flush_timer_.cancel();
    sock_.shutdown(tcp::socket::shutdown_both, ignored);
    sock_.close(ignored);
    writing_.clear();
    write_index_ = 0;
    write_offset_ = 0;
    drop_from(0);
    writing_bytes_.store(0, std::memory_order_relaxed);
    writing_count_.store(0, std::memory_order_relaxed);
    log::ScopedTrace scope(trace_id_);
    try {
      if (handler_) handler_->on_close(code);
    } catch (const std::exception& e) {
      spdlog::error("net: WebSocket handler on_close threw: {}", log::Escaped{e.what()});
    } catch (...) {
      spdlog::error("net: WebSocket handler on_close threw a non-exception");
    }
    handler_.reset();  // releases whatever the application hung on it
  }

  tcp::socket sock_;
  asio::steady_timer timer_;        // idle pings, then the close wait (strand only)
  asio::steady_timer flush_timer_;  // a coalesced write (strand only)
  std::optional<websocket::stream<tcp::socket>> handshake_;  // until the handshake is done
  ServerState& state_;
  std::unique_ptr<WebSocketHandler> handler_;  // strand only
  const std::uint64_t id_;
  Slot connection_;  // counts against max_connections
  Slot websocket_;   // counts against ws_max_connections
  std::uint64_t registry_id_ = 0;
  std::string trace_id_;
  beast::http::request<beast::http::empty_body> upgrade_;
  WsFrameReader reader_;  // strand only
  std::size_t noted_read_buffer_ = 0;
  std::atomic<bool> open_{false};

  // strand only
  bool opened_ = false;
  bool close_started_ = false;   // our close is decided (the frame may not be out yet)
  bool close_queued_ = false;    // the close frame is in writing_
  bool close_sent_ = false;      // ... and on the wire
  bool peer_closed_ = false;     // the peer's close frame arrived
  bool peer_initiated_ = false;  // ... before we started to close
  bool flush_ = true;
  bool finished_ = false;
  bool received_ = false;          // something arrived since the last idle tick
  bool ping_outstanding_ = false;  // an idle ping went out and nothing came since
  bool write_waiting_ = false;     // waiting for the socket to take more
  bool flush_armed_ = false;       // the flush timer will run the write loop
  std::uint64_t flush_gen_ = 0;
  std::uint64_t timer_gen_ = 0;
  std::uint16_t close_code_ = 0;  // the code our close frame carries (0: none)
  std::uint16_t peer_code_ = 0;
  std::string close_payload_;
  Clock::time_point last_write_{};
  std::vector<Outbound> control_;  // pings and pongs to send before the next batch
  std::vector<Outbound> writing_;  // the batch being written
  std::size_t write_index_ = 0;    // its first frame not completely written
  std::size_t write_offset_ = 0;   // bytes of that frame already written
  // Data frames of writing_ not completely written, and their bytes: written
  // by the strand only, read by send() for the queue bounds.
  std::atomic<std::size_t> writing_bytes_{0};
  std::atomic<std::size_t> writing_count_{0};

  std::mutex mu_;
  std::vector<Outbound> pending_;  // guarded by mu_
  std::size_t queued_bytes_ = 0;   // guarded by mu_: pending_'s bytes
  std::size_t queued_count_ = 0;   // guarded by mu_: pending_'s messages
  bool write_scheduled_ = false;   // guarded by mu_: the write loop will run (posted, running,
                                   // waiting for the socket or for the flush timer)
  bool close_requested_ = false;   // guarded by mu_
};

bool WsHandle::send_text(std::string message) {
  if (auto s = session_.lock()) return s->send(Outbound(std::move(message)));
  return false;
}
bool WsHandle::send_shared(SharedMessage message) {
  auto body = SharedMessageAccess::body(std::move(message));
  if (!body) return false;
  if (auto s = session_.lock()) return s->send(Outbound(std::move(body)));
  return false;
}
void WsHandle::close(CloseCode code, std::string reason) {
  if (auto s = session_.lock()) s->close(code, std::move(reason));
}
bool WsHandle::is_open() const {
  auto s = session_.lock();
  return s && s->is_open();
}

}  // namespace

void start_websocket_session(tcp::socket socket, ServerState& state,
                             std::unique_ptr<WebSocketHandler> handler, const Request& upgrade,
                             Slot connection, Slot websocket) {
  auto session = std::make_shared<WsSession>(std::move(socket), state, std::move(handler),
                                             std::move(connection), std::move(websocket));
  session->start(upgrade);
}

}  // namespace office::net::detail
