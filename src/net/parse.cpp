// The request parser (Beast's basic_parser writing into net::Request).
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/rfc7230.hpp>

#include "net/detail/request_parser.hpp"

template class boost::beast::http::basic_parser<true>;

namespace office::net::detail {

namespace http = boost::beast::http;

void reset_request(Request& req) {
  req.method = Method::kGet;
  req.target.clear();
  req.path.clear();
  req.query.clear();
  req.headers.clear();
  req.body.clear();
  req.websocket_upgrade = false;
  req.path_params.clear();
  req.principal.reset();
  req.deadline = Deadline::never();
}

RequestParser::RequestParser(Request& req, const ParseLimits& limits) : req_(req) {
  reset_request(req_);
  body_limit(static_cast<std::uint64_t>(limits.max_body_bytes));
  auto header_max = std::min<std::size_t>(limits.max_header_bytes, UINT32_MAX);
  header_limit(static_cast<std::uint32_t>(header_max));
  eager(true);
}

ParseFailure RequestParser::classify(const boost::beast::error_code& ec) {
  if (ec == http::error::body_limit) return ParseFailure::kBodyTooLarge;
  if (ec == http::error::header_limit) return ParseFailure::kHeaderTooLarge;
  return ParseFailure::kMalformed;
}

void RequestParser::on_request_impl(http::verb, string_view method_str, string_view target,
                                    int version, error_code& ec) {
  if (version != 10 && version != 11) {
    ec = http::error::bad_version;
    return;
  }
  version_ = version;
  req_.method = office::net::parse_method(std::string_view(method_str.data(), method_str.size()));
  req_.target.assign(target.data(), target.size());
}

void RequestParser::on_response_impl(int, string_view, int, error_code& ec) {
  ec = http::error::bad_method;
}

void RequestParser::on_field_impl(http::field field, string_view name, string_view value,
                                  error_code&) {
  if (field == http::field::content_length) {
    has_content_length_ = true;
  } else if (field == http::field::transfer_encoding) {
    // Over all Transfer-Encoding lines: exactly one coding, and it is chunked.
    // The list must be well-formed: Beast's own reading skips what it cannot
    // parse ("chunked\xfe%%" would count as chunked), a proxy's may not.
    http::opt_token_list list(value);
    std::size_t codings = 0;
    bool chunked = false;
    if (http::validate_list(list)) {
      for (string_view coding : list) {
        ++codings;
        chunked = boost::beast::iequals(coding, "chunked");
      }
    }
    chunked_alone_ = !has_transfer_encoding_ && codings == 1 && chunked;
    has_transfer_encoding_ = true;
  }
  auto& [n, v] = req_.headers.emplace_back();
  n.resize(name.size());
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    n[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  v.assign(value.data(), value.size());
  if (n == "expect" && header_has_token(v, "100-continue")) expect_continue_ = true;
}

// RFC 9112 section 6.3: when the final transfer coding is not chunked the body
// length cannot be determined, so the request must be refused (400) and the
// connection closed, or its body would be read as the next request. We also
// refuse every other coding (we decode none), Transfer-Encoding together with
// Content-Length (section 6.1: "ought to be handled as an error") and
// Transfer-Encoding on HTTP/1.0 (section 6.1: the framing is then faulty).
// Beast on its own treats "Transfer-Encoding: xchunked" as no body at all.
void RequestParser::on_header_impl(error_code& ec) {
  if (!has_transfer_encoding_) return;
  if (!chunked_alone_ || has_content_length_ || version_ == 10)
    ec = http::error::bad_transfer_encoding;
}

void RequestParser::on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                                      error_code&) {
  // The base class has already rejected lengths over body_limit.
  if (content_length) req_.body.reserve(static_cast<std::size_t>(*content_length));
}

std::size_t RequestParser::on_body_impl(string_view body, error_code&) {
  req_.body.append(body.data(), body.size());
  return body.size();
}

void RequestParser::on_chunk_header_impl(std::uint64_t, string_view, error_code&) {}

std::size_t RequestParser::on_chunk_body_impl(std::uint64_t, string_view body, error_code&) {
  req_.body.append(body.data(), body.size());
  return body.size();
}

void RequestParser::on_finish_impl(error_code&) {}

bool header_has_token(std::string_view value, std::string_view token) {
  for (boost::beast::string_view item : http::token_list(value))
    if (boost::beast::iequals(item, token)) return true;
  return false;
}

Response parse_failure_response(ParseFailure failure) {
  switch (failure) {
    case ParseFailure::kBodyTooLarge:
      return Response::error(ErrorCode::kPayloadTooLarge, "request body too large");
    case ParseFailure::kHeaderTooLarge:
      return Response::error(ErrorCode::kHeaderTooLarge, "request header too large");
    case ParseFailure::kMalformed:
      break;
  }
  return Response::error(ErrorCode::kInvalidArgument, "malformed HTTP request");
}

Result<Request> parse_request(std::string_view bytes, const ParseLimits& limits) {
  Request req;
  RequestParser parser(req, limits);
  boost::beast::error_code ec;
  std::size_t used = 0;
  // Feed the way the server does: put() consumes what it can; the rest is offered again.
  while (!parser.is_done()) {
    std::size_t n =
        parser.put(boost::asio::const_buffer(bytes.data() + used, bytes.size() - used), ec);
    used += n;
    if (ec && ec != http::error::need_more) {
      switch (RequestParser::classify(ec)) {
        case ParseFailure::kBodyTooLarge:
          return Error{ErrorCode::kPayloadTooLarge, "request body too large"};
        case ParseFailure::kHeaderTooLarge:
          return Error{ErrorCode::kPayloadTooLarge, "request header too large"};
        case ParseFailure::kMalformed:
          return Error::invalid("malformed HTTP request: " + ec.message());
      }
    }
    if (parser.is_done()) break;
    if (n > 0 && used < bytes.size()) continue;
    // Out of input: only a body delimited by EOF could be complete now.
    if (!parser.got_some() || !parser.is_header_done())
      return Error::invalid("incomplete HTTP request");
    parser.put_eof(ec);
    if (ec || !parser.is_done()) return Error::invalid("incomplete HTTP request");
  }
  if (auto st = prepare_request(req); !st) return std::move(st).error();
  return req;
}

}  // namespace office::net::detail
