//! The gateway's OpenAPI 3.1 document, and its reference page.
//!
//! Nothing in the document is written by hand apart from prose: each handler
//! carries a `#[utoipa::path]` annotation (method, path, parameters, body,
//! the responses only it gives), the JSON shapes are the contract types'
//! own schemas (`contracts`, feature `openapi`), and [`crate::routes`]
//! registers every route from its annotation, so the router and the
//! document are built from one list and cannot disagree.
//!
//! What every operation of a kind answers is added here, once, where the
//! route is registered ([`describe`]): the bearer scheme, 401 and 403 from
//! the access check, 400/413/415/422 for a body, 400 for a path or query,
//! the 500/503/504 the middleware stack gives any route — and every error
//! response's body is problem+json ([`Problem`]). Once the document is
//! whole, every string a request body may hold gets the text rule's
//! `pattern` (`describe_text`), as the body extractors hold all of them
//! to it.
//!
//! `GET /openapi.json` serves the document and `GET /docs` a Swagger UI
//! whose assets are compiled into the binary (no CDN: it works offline),
//! both public: the API's shape is no secret, its data is.

use axum::{
    Router,
    http::{HeaderValue, Method, header},
};
use contracts::limits::MAX_IDEMPOTENCY_KEY_CHARS;
use std::collections::BTreeSet;
use tower_http::set_header::SetResponseHeaderLayer;

use utoipa::{
    OpenApi,
    openapi::{
        self, Content, HeaderBuilder, Ref, RefOr, Required, ResponseBuilder, Schema,
        path::{Operation, ParameterBuilder, ParameterIn, PathItem},
        schema::{
            AdditionalProperties, ArrayItems, KnownFormat, ObjectBuilder, SchemaFormat, SchemaType,
            Type,
        },
        security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme},
    },
};
use utoipa_swagger_ui::SwaggerUi;

use crate::{
    AppState,
    auth::Access,
    error::FieldError,
    extract::IdempotencyKey,
    problem::{PROBLEM_JSON, Problem},
    text,
};

mod limits;

pub(crate) use limits::describe_limits;

/// Where the document and the reference page are served.
pub(crate) const DOCUMENT_PATH: &str = "/openapi.json";
pub(crate) const REFERENCE_PATH: &str = "/docs";

/// The name of the bearer scheme in `components.securitySchemes`.
const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "rust-shop API",
        description = "The public HTTP API of rust-shop, a reference e-commerce system of four \
            Rust services. Sign up (`POST /users`), log in (`POST /auth/token`) and send the \
            token as `Authorization: Bearer <token>`. Every error is RFC 9457 \
            `application/problem+json`; every response carries an `X-Request-Id`. \
            `POST /orders` and `POST /users/{id}/credit` take an `Idempotency-Key`: a retry \
            with the same key is applied once.",
    ),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "auth", description = "Log-in and the keys that verify its tokens."),
        (name = "users", description = "Accounts and store credit (user-service, over gRPC)."),
        (name = "orders", description = "The catalogue and orders (order-service, over RabbitMQ by default, or NATS, Redis or TCP)."),
        (name = "notifications", description = "What notification-service sent a user."),
        (name = "health", description = "The whole system's health."),
    ),
)]
struct ApiDoc;

/// The document's frame — info, tags, shared schemas, the bearer scheme —
/// which [`crate::routes`] fills with the operations.
pub(crate) fn base() -> openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some("An access token from `POST /auth/token`."))
                .build(),
        ),
    );
    document
}

/// The operations of a path item, with their methods.
pub(crate) fn operations_mut(
    item: &mut PathItem,
) -> impl Iterator<Item = (Method, &mut Operation)> {
    [
        (Method::GET, item.get.as_mut()),
        (Method::PUT, item.put.as_mut()),
        (Method::POST, item.post.as_mut()),
        (Method::DELETE, item.delete.as_mut()),
        (Method::OPTIONS, item.options.as_mut()),
        (Method::HEAD, item.head.as_mut()),
        (Method::PATCH, item.patch.as_mut()),
        (Method::TRACE, item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|operation| (method, operation)))
}

/// Adds to `operation` what follows from how it is served: its access,
/// what its inputs can be refused with, what the middleware stack can
/// answer; then gives every error response its problem+json body.
pub(crate) fn describe(operation: &mut Operation, access: Access) {
    let responses = &mut operation.responses.responses;
    let mut add = |status: &str, description: &str| {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(ResponseBuilder::new().description(description).build()));
    };
    if access != Access::Public {
        operation
            .security
            .get_or_insert_with(Vec::new)
            .push(SecurityRequirement::new(BEARER, Vec::<String>::new()));
        add(
            "401",
            "No token, or one that does not hold (`WWW-Authenticate` says why).",
        );
    }
    if access == Access::Admin {
        add("403", "The token is not an admin's.");
    }
    if operation.request_body.is_some() {
        add(
            "400",
            "The body is not JSON, or a field is invalid (`errors` lists them).",
        );
        add("413", "The body is larger than the gateway accepts.");
        add(
            "415",
            "The body's `Content-Type` is not one this operation takes.",
        );
        add("422", "The body is JSON but not of this operation's shape.");
    }
    if operation.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
        add("400", "A path, query or header parameter is malformed.");
    }
    add(
        "500",
        "An unexpected error; the details are in the gateway's log, not here.",
    );
    add(
        "503",
        "The gateway is at its request limit, or a service it needs is down (`Retry-After` when overloaded).",
    );
    add(
        "504",
        "The request, or the service behind it, did not answer in time.",
    );

    for (status, response) in operation.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if !status.starts_with('4') && !status.starts_with('5') {
            continue;
        }
        if response.content.is_empty() {
            response.content.insert(
                PROBLEM_JSON.to_owned(),
                RefOr::T(Content::new(Some(Ref::from_schema_name("Problem")))),
            );
        }
        let challenge = match status.as_str() {
            "401" | "403" => Some(("WWW-Authenticate", "The bearer challenge (RFC 6750 §3).")),
            "429" | "503" => Some(("Retry-After", "Seconds to wait before trying again.")),
            _ => None,
        };
        if let Some((name, description)) = challenge {
            response.headers.entry(name.to_owned()).or_insert_with(|| {
                RefOr::T(
                    HeaderBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                        .description(Some(description))
                        .build(),
                )
            });
        }
    }
}

/// Gives every string a request body may hold — each field, and the names
/// and values of fields a body leaves open — the pattern of the text rule
/// the body extractors enforce on all of them ([`text::PATTERN`]). Done
/// once, over the finished document, rather than field by field, so a field
/// added to a body is described as it is checked. A string with a pattern
/// of its own keeps it (`^password$` has no control characters either), and
/// one whose format already excludes them (`email`, `uuid`) gets none: it
/// would add nothing there but a second rule for tools to test apart.
pub(crate) fn describe_text(document: &mut openapi::OpenApi) {
    let mut named = Vec::new();
    for item in document.paths.paths.values_mut() {
        for (_, operation) in operations_mut(item) {
            let Some(RefOr::T(body)) = operation.request_body.as_mut() else {
                continue;
            };
            for content in body.content.values_mut() {
                if let RefOr::T(Content {
                    schema: Some(schema),
                    ..
                }) = content
                {
                    text_only(schema, &mut named);
                }
            }
        }
    }
    let Some(components) = document.components.as_mut() else {
        return;
    };
    let mut done = BTreeSet::new();
    while let Some(name) = named.pop() {
        if done.insert(name.clone())
            && let Some(schema) = components.schemas.get_mut(&name)
        {
            text_only(schema, &mut named);
        }
    }
}

/// [`describe_text`] on one schema; the components it refers to are pushed
/// to `named`, to be done in turn.
fn text_only(schema: &mut RefOr<Schema>, named: &mut Vec<String>) {
    let schema = match schema {
        RefOr::Ref(reference) => {
            if let Some(name) = reference.ref_location.strip_prefix("#/components/schemas/") {
                named.push(name.to_owned());
            }
            return;
        }
        RefOr::T(schema) => schema,
    };
    match schema {
        Schema::Object(object) => {
            let textual = !matches!(
                object.format,
                Some(SchemaFormat::KnownFormat(
                    KnownFormat::Email | KnownFormat::Uuid
                ))
            );
            if has_type(&object.schema_type, Type::String) && object.pattern.is_none() && textual {
                object.pattern = Some(text::PATTERN.to_owned());
            }
            for property in object.properties.values_mut() {
                text_only(property, named);
            }
            match object.additional_properties.as_deref_mut() {
                Some(AdditionalProperties::FreeForm(false)) => return,
                Some(AdditionalProperties::RefOr(values)) => text_only(values, named),
                Some(AdditionalProperties::FreeForm(true)) | None => {}
            }
            if has_type(&object.schema_type, Type::Object) && object.property_names.is_none() {
                object.property_names = Some(Box::new(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some(text::PATTERN))
                        .into(),
                ));
            }
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                text_only(items, named);
            }
        }
        Schema::OneOf(one_of) => one_of.items.iter_mut().for_each(|s| text_only(s, named)),
        Schema::AllOf(all_of) => all_of.items.iter_mut().for_each(|s| text_only(s, named)),
        Schema::AnyOf(any_of) => any_of.items.iter_mut().for_each(|s| text_only(s, named)),
        _ => {}
    }
}

fn has_type(schema_type: &SchemaType, wanted: Type) -> bool {
    match schema_type {
        SchemaType::Type(one) => *one == wanted,
        SchemaType::Array(some) => some.contains(&wanted),
        SchemaType::AnyValue => false,
    }
}

/// `Idempotency-Key`, documented from the extractor that reads it.
impl utoipa::IntoParams for IdempotencyKey {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<openapi::path::Parameter> {
        vec![
            ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "A key of your choosing, unique per operation: a retry with the same key \
                     (after a timeout or a dropped connection) is applied once and answered \
                     as the first time.",
                ))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .min_length(Some(1))
                        .max_length(Some(MAX_IDEMPOTENCY_KEY_CHARS))
                        // Visible ASCII with spaces inside (HTTP strips
                        // whitespace around a header value).
                        .pattern(Some("^[\\x21-\\x7e]([\\x20-\\x7e]*[\\x21-\\x7e])?$")),
                ))
                .build(),
        ]
    }
}

/// `GET /openapi.json` and `GET /docs`: the document, and Swagger UI over
/// it. The page's scripts and styles come from the gateway itself, so a
/// content security policy can forbid every other origin, and framing.
pub(crate) fn reference(document: openapi::OpenApi) -> Router<AppState> {
    let docs: Router<AppState> = SwaggerUi::new(REFERENCE_PATH)
        .url(DOCUMENT_PATH, document)
        .into();
    docs.layer(SetResponseHeaderLayer::if_not_present(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
             frame-ancestors 'none'",
        ),
    ))
    .layer(SetResponseHeaderLayer::if_not_present(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ))
}
