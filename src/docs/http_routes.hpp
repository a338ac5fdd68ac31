#pragma once

#include "docs/service.hpp"
#include "net/router.hpp"

namespace office::docs {

/// Registers the catalogue's REST routes under /api/v1/docs (documents,
/// trash, shares, versions; docs/docs.md). Bodies are the proto3 JSON
/// mapping of api/office/docs/v1/docs.proto. Every route needs
/// authentication (the router's authenticator, set by
/// identity::register_routes) and runs on the worker pool (it reads the
/// database). `service` must outlive the router.
void register_routes(net::Router& router, DocumentService& service);

}  // namespace office::docs
