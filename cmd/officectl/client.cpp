// Beast and Boost.URL live here only. Each asynchronous step runs on a private
// io_context bounded by the exchange's deadline (run_for): a server that
// stops answering costs at most the timeout, and nothing runs in the
// background once http_request returns.
#include "cmd/officectl/client.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <cctype>
#include <functional>
#include <optional>

namespace office::ctl {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

Result<ServerUrl> ServerUrl::parse(std::string_view text) {
  const auto kExample = std::string(" (e.g. https://office.example.com or http://127.0.0.1:8080)");
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed) return Error::invalid("the server is not a URL" + kExample);
  const auto& u = *parsed;
  ServerUrl out;
  if (u.scheme_id() == boost::urls::scheme::https) {
    out.https = true;
  } else if (u.scheme_id() != boost::urls::scheme::http) {
    return Error::invalid("the server URL must start with http:// or https://" + kExample);
  }
  if (u.has_userinfo()) return Error::invalid("the server URL must not contain a user or password");
  if (u.has_query() || u.has_fragment())
    return Error::invalid("the server URL must not have a query or fragment");
  out.host = u.host_address();
  if (out.host.empty()) return Error::invalid("the server URL has no host" + kExample);
  std::transform(out.host.begin(), out.host.end(), out.host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  out.port = out.https ? 443 : 80;
  if (u.has_port()) {
    if (u.port_number() == 0) return Error::invalid("the server URL's port must be 1 to 65535");
    out.port = u.port_number();
  }
  out.base_path = std::string(u.encoded_path());
  while (!out.base_path.empty() && out.base_path.back() == '/') out.base_path.pop_back();
  return out;
}

std::string ServerUrl::to_string() const {
  std::string s = https ? "https://" : "http://";
  s += host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != (https ? 443 : 80)) s += ":" + std::to_string(port);
  return s + base_path;
}

std::string query_escape(std::string_view value) {
  return boost::urls::encode(value, boost::urls::unreserved_chars);
}

namespace {

using Clock = std::chrono::steady_clock;

// One exchange: its io_context, socket (inside the TLS stream, used bare for
// http) and deadline.
class Exchange {
 public:
  Exchange(const HttpOptions& options, const ServerUrl& server)
      : options_(options),
        server_(server),
        tls_ctx_(make_context(options, ca_loaded_)),
        stream_(ioc_, tls_ctx_),
        deadline_(Clock::now() + options.timeout) {}

  Result<HttpResponse> run(http::request<http::string_body>& req) {
    if (auto st = connect(); !st) return std::move(st).error();
    if (server_.https) {
      if (auto st = handshake(); !st) return std::move(st).error();
      return exchange(stream_, req);
    }
    return exchange(stream_.next_layer(), req);
  }

 private:
  // Starts an operation through `start` (which gets the completion handler)
  // and runs until it completes or the deadline passes (then the socket is
  // closed, which completes it with an error).
  error_code step(const std::function<void(std::function<void(error_code)>)>& start) {
    std::optional<error_code> result;
    start([&result](error_code ec) { result = ec; });
    ioc_.restart();
    auto left = deadline_ - Clock::now();
    ioc_.run_for(left > Clock::duration::zero() ? left : Clock::duration::zero());
    if (!result) {
      error_code ignored;
      stream_.next_layer().close(ignored);
      ioc_.restart();
      ioc_.run();
      return asio::error::timed_out;
    }
    return *result;
  }

  std::string where() const { return server_.to_string(); }

  // Configured before the TLS stream copies its settings.
  static ssl::context make_context(const HttpOptions& options, bool& ca_loaded) {
    ssl::context ctx(ssl::context::tls_client);
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    ca_loaded = true;
    if (options.insecure) return ctx;
    error_code ec;
    if (options.ca_file.empty()) {
      ctx.set_default_verify_paths(ec);
    } else {
      ctx.load_verify_file(options.ca_file, ec);
      ca_loaded = !ec;
    }
    return ctx;
  }

  Error network_error(std::string_view what, const error_code& ec) const {
    if (ec == asio::error::timed_out) {
      return Error::unavailable(std::string(what) + " " + where() + ": no answer within " +
                                std::to_string(options_.timeout.count() / 1000) + " s");
    }
    return Error::unavailable(std::string(what) + " " + where() + ": " + ec.message());
  }

  Status connect() {
    tcp::resolver resolver(ioc_);
    tcp::resolver::results_type endpoints;
    auto ec = step([&](auto done) {
      resolver.async_resolve(server_.host, std::to_string(server_.port),
                             [&endpoints, done](error_code e, tcp::resolver::results_type r) {
                               endpoints = std::move(r);
                               done(e);
                             });
    });
    if (ec) {
      if (ec == asio::error::timed_out) resolver.cancel();
      return Error::unavailable("cannot resolve the host of " + where() + ": " + ec.message());
    }
    ec = step([&](auto done) {
      asio::async_connect(stream_.next_layer(), endpoints,
                          [done](error_code e, const tcp::endpoint&) { done(e); });
    });
    if (ec) return network_error("cannot connect to", ec);
    return {};
  }

  Status handshake() {
    if (!ca_loaded_) return Error::unavailable("cannot read the CA file " + options_.ca_file);
    error_code ec;
    SSL* ssl_handle = stream_.native_handle();
    asio::ip::make_address(server_.host, ec);
    bool is_ip = !ec;
    if (!is_ip) SSL_set_tlsext_host_name(ssl_handle, server_.host.c_str());
    if (options_.insecure) {
      stream_.set_verify_mode(ssl::verify_none);
    } else {
      stream_.set_verify_mode(ssl::verify_peer);
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl_handle);
      int set = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, server_.host.c_str())
                      : X509_VERIFY_PARAM_set1_host(param, server_.host.c_str(), 0);
      if (set != 1) return Error::unavailable("cannot check the certificate of " + where());
    }
    ec = step([&](auto done) { stream_.async_handshake(ssl::stream_base::client, done); });
    if (ec) {
      long verify = SSL_get_verify_result(ssl_handle);
      if (!options_.insecure && verify != X509_V_OK) {
        return Error::unavailable(
            "the certificate of " + where() +
            " is not trusted: " + X509_verify_cert_error_string(verify) +
            " (--cacert FILE trusts a private CA; --insecure skips the check)");
      }
      return network_error("TLS handshake failed with", ec);
    }
    return {};
  }

  template <class Stream>
  Result<HttpResponse> exchange(Stream& stream, http::request<http::string_body>& req) {
    auto ec = step([&](auto done) {
      http::async_write(stream, req, [done](error_code e, std::size_t) { done(e); });
    });
    if (ec) return network_error("cannot send the request to", ec);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(options_.max_response_bytes);
    parser.header_limit(64 * 1024);
    ec = step([&](auto done) {
      http::async_read(stream, buffer, parser, [done](error_code e, std::size_t) { done(e); });
    });
    if (ec == http::error::body_limit) {
      return Error{ErrorCode::kPayloadTooLarge,
                   "the answer of " + where() + " is larger than " +
                       std::to_string(options_.max_response_bytes >> 20) + " MiB"};
    }
    if (ec) return network_error("no valid HTTP answer from", ec);
    auto& res = parser.get();
    HttpResponse out;
    out.status = static_cast<int>(res.result_int());
    out.content_type = std::string(res[http::field::content_type]);
    out.body = std::move(res.body());
    error_code ignored;
    stream_.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
    return out;
  }

  const HttpOptions& options_;
  const ServerUrl& server_;
  asio::io_context ioc_;
  bool ca_loaded_ = true;
  ssl::context tls_ctx_;
  ssl::stream<tcp::socket> stream_;
  Clock::time_point deadline_;
};

}  // namespace

Result<HttpResponse> http_request(const HttpOptions& options, const ServerUrl& server,
                                  std::string_view method, std::string_view target,
                                  std::string_view body, std::string_view bearer_token) {
  http::verb verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) return Error::internal("unknown HTTP method");
  http::request<http::string_body> req{verb, server.base_path + std::string(target), 11};
  std::string host =
      server.host.find(':') != std::string::npos ? "[" + server.host + "]" : server.host;
  if (server.port != (server.https ? 443 : 80)) host += ":" + std::to_string(server.port);
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "officectl/" OFFICE_VERSION);
  req.set(http::field::accept, "application/json");
  if (!bearer_token.empty()) {
    req.set(http::field::authorization, "Bearer " + std::string(bearer_token));
  }
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = std::string(body);
  }
  req.keep_alive(false);
  req.prepare_payload();
  Exchange exchange(options, server);
  return exchange.run(req);
}

}  // namespace office::ctl
