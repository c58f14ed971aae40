//! Every route of the API with who may call it: the resources in turn, each
//! registering its handlers with [`Routes`] (`crate::routing`); the table
//! the security tests attack; the OpenAPI document the same registrations
//! describe.

pub use crate::routing::{Access, Route, Routes};

/// The whole API, each resource's routes in turn.
pub fn api() -> Routes {
    let routes = Routes::default();
    let routes = crate::health::routes(routes);
    let routes = crate::tokens::routes(routes);
    let routes = crate::users::routes(routes);
    let routes = crate::orders::routes(routes);
    crate::notifications::routes(routes)
}

/// Every route of the API, with its access. (Besides these the gateway
/// serves only its description, `GET /openapi.json` and `GET /docs`, to
/// anyone: `openapi::reference`.)
pub fn table() -> Vec<Route> {
    api().table().to_vec()
}

/// The API's OpenAPI document, as `GET /openapi.json` serves it.
pub fn document() -> utoipa::openapi::OpenApi {
    api().into_parts().1
}
