//! Every route of the API with who may call it, declared in one place.
//!
//! A route is added with its [`Access`], which installs the check
//! ([`crate::auth::require`]) on it — there is no way to add a route without
//! saying who may call it — and records it in the [`table`], from which the
//! security tests take the list of routes to attack: a new route is tested
//! without anyone remembering to.

use axum::{
    Router,
    handler::Handler,
    http::Method,
    middleware,
    routing::{MethodFilter, on},
};

use crate::{AppState, auth};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token.
    Public,
    /// Any signed-in user (a customer, or an admin); what they may reach is
    /// then checked by ownership in the handler and again in the service.
    User,
    /// Admins only; a customer gets 403.
    Admin,
}

/// One route: method, path template, access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
}

/// A router being built, and the table of what it routes.
#[derive(Debug)]
pub struct Routes {
    router: Router<AppState>,
    table: Vec<Route>,
}

impl Default for Routes {
    fn default() -> Self {
        Self {
            router: Router::new(),
            table: Vec::new(),
        }
    }
}

impl Routes {
    /// Routes `method path` to `handler`, callable by `access`.
    #[must_use]
    pub fn route<H, T>(
        mut self,
        method: Method,
        path: &'static str,
        access: Access,
        handler: H,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("a standard HTTP method");
        let mut method_router = on(filter, handler);
        if access != Access::Public {
            method_router = method_router.route_layer(middleware::from_fn(move |req, next| {
                auth::require(access, req, next)
            }));
        }
        self.router = self.router.route(path, method_router);
        self.table.push(Route {
            method,
            path,
            access,
        });
        self
    }

    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}

/// The whole API, each resource's routes in turn.
pub fn api() -> Routes {
    let routes = Routes::default();
    let routes = crate::health::routes(routes);
    let routes = crate::tokens::routes(routes);
    let routes = crate::users::routes(routes);
    let routes = crate::orders::routes(routes);
    crate::notifications::routes(routes)
}

/// Every route the gateway serves, with its access.
pub fn table() -> Vec<Route> {
    api().table
}
