#include "ot/trace.hpp"

#include <zlib.h>

#include <array>
#include <istream>
#include <limits>
#include <memory>
#include <streambuf>

#include <nlohmann/json.hpp>

#include "ot/utf8.hpp"

namespace office::ot {
namespace {

// std::streambuf over gzread (also reads uncompressed files transparently).
class GzBuf : public std::streambuf {
 public:
  explicit GzBuf(gzFile f) : f_(f) {}
  ~GzBuf() override { gzclose(f_); }
  GzBuf(const GzBuf&) = delete;
  GzBuf& operator=(const GzBuf&) = delete;
  bool failed() const { return failed_; }

 protected:
  int_type underflow() override {
    if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
    const int n = gzread(f_, buf_.data(), static_cast<unsigned>(buf_.size()));
    if (n < 0) failed_ = true;
    if (n <= 0) return traits_type::eof();
    setg(buf_.data(), buf_.data(), buf_.data() + n);
    return traits_type::to_int_type(*gptr());
  }

 private:
  gzFile f_;
  std::array<char, 1 << 16> buf_{};
  bool failed_ = false;
};

enum class Ctx { kTop, kTxns, kTxn, kPatches, kPatch, kIgnore };

// SAX handler that keeps only what a replay needs.
class TraceSax : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit TraceSax(Trace& t) : t_(t) {}
  std::string error;

  bool null() override { return field_invalid(); }
  bool boolean(bool) override { return field_invalid(); }
  bool number_integer(number_integer_t v) override {
    return v < 0 ? field_invalid() : number(static_cast<std::uint64_t>(v));
  }
  bool number_unsigned(number_unsigned_t v) override { return number(v); }
  bool number_float(number_float_t, const string_t&) override { return field_invalid(); }
  bool string(string_t& s) override {
    const Ctx top = stack_.empty() ? Ctx::kIgnore : stack_.back();
    if (top == Ctx::kTop && key_ == "startContent") {
      t_.start_content = std::move(s);
    } else if (top == Ctx::kTop && key_ == "endContent") {
      t_.end_content = std::move(s);
    } else if (top == Ctx::kPatch) {
      if (field_ != 2) return fail("patch text must be the third field");
      if (t_.arena.size() + s.size() > std::numeric_limits<std::uint32_t>::max()) {
        return fail("trace too large");
      }
      cur_.text_off = static_cast<std::uint32_t>(t_.arena.size());
      cur_.text_len = static_cast<std::uint32_t>(s.size());
      cur_.text_cps = static_cast<std::uint32_t>(utf8::count(s));
      t_.arena.append(s);
      ++field_;
    }
    return true;
  }
  bool binary(binary_t&) override { return fail("unexpected binary"); }
  bool start_object(std::size_t) override {
    if (stack_.empty()) {
      stack_.push_back(Ctx::kTop);
    } else if (stack_.back() == Ctx::kTxns) {
      stack_.push_back(Ctx::kTxn);
      ++t_.txns;
    } else {
      stack_.push_back(Ctx::kIgnore);
    }
    return true;
  }
  bool key(string_t& k) override {
    key_ = k;
    return true;
  }
  bool end_object() override {
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    const Ctx top = stack_.empty() ? Ctx::kIgnore : stack_.back();
    if (top == Ctx::kTop && key_ == "txns") {
      stack_.push_back(Ctx::kTxns);
    } else if (top == Ctx::kTxn && key_ == "patches") {
      stack_.push_back(Ctx::kPatches);
    } else if (top == Ctx::kPatches) {
      stack_.push_back(Ctx::kPatch);
      cur_ = TracePatch{0, 0, 0, 0, 0};
      field_ = 0;
    } else {
      stack_.push_back(Ctx::kIgnore);
    }
    return true;
  }
  bool end_array() override {
    if (stack_.back() == Ctx::kPatch) {
      if (field_ < 2) return fail("patch needs [pos, delCount, text]");
      t_.patches.push_back(cur_);
    }
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    return fail(e.what());
  }

 private:
  bool number(std::uint64_t v) {
    if (stack_.empty() || stack_.back() != Ctx::kPatch) return true;
    if (v > std::numeric_limits<std::uint32_t>::max()) return fail("patch number too large");
    if (field_ == 0) {
      cur_.pos = static_cast<std::uint32_t>(v);
    } else if (field_ == 1) {
      cur_.del = static_cast<std::uint32_t>(v);
    } else {
      return fail("patch has too many fields");
    }
    ++field_;
    return true;
  }
  bool field_invalid() {
    return (!stack_.empty() && stack_.back() == Ctx::kPatch) ? fail("invalid patch field") : true;
  }
  bool fail(std::string m) {
    if (error.empty()) error = std::move(m);
    return false;
  }

  Trace& t_;
  std::vector<Ctx> stack_;
  std::string key_;
  TracePatch cur_{};
  int field_ = 0;
};

}  // namespace

Result<Trace> load_trace(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return Error::invalid("cannot open " + path);
  gzbuffer(f, 1 << 17);
  GzBuf buf(f);
  std::istream in(&buf);
  Trace trace;
  TraceSax sax(trace);
  const bool ok = nlohmann::json::sax_parse(in, &sax);
  if (!ok || buf.failed()) {
    return Error::invalid(path + ": " + (sax.error.empty() ? "read error" : sax.error));
  }
  trace.patches.shrink_to_fit();
  trace.arena.shrink_to_fit();
  return trace;
}

Op patch_to_op(const Trace& trace, const TracePatch& p) {
  Op op;
  patch_to_op(trace, p, op);
  return op;
}

void patch_to_op(const Trace& trace, const TracePatch& p, Op& out) {
  // [pos, {d:del}, "text"] without the empty parts; a bare skip (empty patch)
  // is a no-op and is dropped like normalize() would.
  const std::size_t n =
      (p.text_len > 0 || p.del > 0)
          ? (p.pos > 0 ? 1u : 0u) + (p.del > 0 ? 1u : 0u) + (p.text_len > 0 ? 1u : 0u)
          : 0u;
  out.resize(n);
  if (n == 0) return;
  std::size_t k = 0;
  if (p.pos > 0) {
    Component& c = out[k++];
    c.kind = Kind::kSkip;
    c.has_text = false;
    c.len = p.pos;
    c.text.clear();
  }
  if (p.del > 0) {
    Component& c = out[k++];
    c.kind = Kind::kDelete;
    c.has_text = false;
    c.len = p.del;
    c.text.clear();
  }
  if (p.text_len > 0) {
    Component& c = out[k];
    c.kind = Kind::kInsert;
    c.has_text = false;
    c.len = p.text_cps;
    c.text.assign(trace.text(p));
  }
}

}  // namespace office::ot
