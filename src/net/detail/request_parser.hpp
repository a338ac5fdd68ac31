#pragma once
// Internal, Beast-including: the incremental request parser. It writes straight into
// a net::Request (no intermediate beast::http::fields), so a request costs only the
// strings it really has.

#include <boost/beast/http/basic_parser.hpp>

#include "net/detail/parse.hpp"

extern template class boost::beast::http::basic_parser<true>;

namespace office::net::detail {

class RequestParser final : public boost::beast::http::basic_parser<true> {
 public:
  /// Clears req and parses into it. One parser per request (Beast parsers are not
  /// reusable); construction is cheap and does not allocate.
  RequestParser(Request& req, const ParseLimits& limits);

  /// The client sent `Expect: 100-continue`.
  bool expect_continue() const { return expect_continue_; }
  /// 10 or 11, once the request line was parsed.
  int http_version() const { return version_; }
  /// Maps a put() error (other than need_more) to the failure kind.
  static ParseFailure classify(const boost::beast::error_code& ec);

 private:
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;

  void on_request_impl(boost::beast::http::verb method, string_view method_str, string_view target,
                       int version, error_code& ec) override;
  void on_response_impl(int, string_view, int, error_code& ec) override;
  void on_field_impl(boost::beast::http::field name, string_view name_string, string_view value,
                     error_code& ec) override;
  void on_header_impl(error_code& ec) override;
  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                         error_code& ec) override;
  std::size_t on_body_impl(string_view body, error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t size, string_view extensions, error_code& ec) override;
  std::size_t on_chunk_body_impl(std::uint64_t remain, string_view body, error_code& ec) override;
  void on_finish_impl(error_code& ec) override;

  Request& req_;
  bool expect_continue_ = false;
  int version_ = 11;
  // Framing (RFC 9112 section 6): the only transfer coding accepted is a lone
  // "chunked", never with Content-Length and never on HTTP/1.0.
  bool has_content_length_ = false;
  bool has_transfer_encoding_ = false;
  bool chunked_alone_ = false;  ///< every Transfer-Encoding line together is exactly "chunked"
};

/// Resets every per-request field of req, keeping capacity and remote_address.
void reset_request(Request& req);

}  // namespace office::net::detail
