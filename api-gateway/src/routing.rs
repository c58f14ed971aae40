//! How a route is added: [`Routes`], the builder every resource module
//! (`users.rs`, `orders.rs`, …) registers its handlers with, and the
//! [`Route`]s it records. The list of resources is [`crate::routes`].
//!
//! A route is added with its [`Access`], which installs the check
//! ([`crate::auth::require`]) on it — there is no way to add a route without
//! saying who may call it — and records it in the table ([`crate::routes::table`]), from which the
//! security tests take the list of routes to attack: a new route is tested
//! without anyone remembering to. Its method and path come from the
//! handler's `#[utoipa::path]` annotation, so the same registration also
//! puts it in the OpenAPI document ([`crate::openapi`]).

use axum::{Router, http::Method, middleware};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

pub use crate::auth::Access;
use crate::{AppState, auth, openapi};

/// One route: method, path template, access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: Method,
    pub path: String,
    pub access: Access,
}

/// A router being built, with its OpenAPI document and the table of what
/// it routes.
pub struct Routes {
    router: OpenApiRouter<AppState>,
    table: Vec<Route>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes")
            .field("table", &self.table)
            .finish()
    }
}

impl Default for Routes {
    fn default() -> Self {
        Self {
            router: OpenApiRouter::with_openapi(openapi::base()),
            table: Vec::new(),
        }
    }
}

impl Routes {
    /// Routes the handlers `utoipa_axum::routes!` collected, callable by
    /// `access`. Method and path come from each handler's
    /// `#[utoipa::path]`, the one place they are written: the router, the
    /// document and the table all take them from there.
    #[must_use]
    pub fn route(
        mut self,
        access: Access,
        (schemas, mut paths, mut method_router): UtoipaMethodRouter<AppState>,
    ) -> Self {
        if access != Access::Public {
            method_router = method_router.route_layer(middleware::from_fn(move |req, next| {
                auth::require(access, req, next)
            }));
        }
        for (path, item) in &mut paths.paths {
            for (method, operation) in openapi::operations_mut(item) {
                openapi::describe(operation, access);
                self.table.push(Route {
                    method,
                    path: path.clone(),
                    access,
                });
            }
        }
        self.router = self.router.routes((schemas, paths, method_router));
        self
    }

    /// What has been routed so far, with its access.
    pub fn table(&self) -> &[Route] {
        &self.table
    }

    /// The router, and the OpenAPI document of what it routes.
    pub fn into_parts(self) -> (Router<AppState>, utoipa::openapi::OpenApi) {
        let (router, mut document) = self.router.split_for_parts();
        openapi::describe_text(&mut document);
        openapi::describe_limits(&mut document);
        (router, document)
    }
}
