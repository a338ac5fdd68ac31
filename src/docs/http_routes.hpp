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
/// With `sync`, also GET /api/v1/docs/{id}/versions/{version} (the text at
/// a version) and POST .../versions/{version}/restore (restores it as a new
/// op), which the real-time side answers.
void register_routes(net::Router& router, DocumentService& service, SyncService* sync = nullptr);

}  // namespace office::docs
