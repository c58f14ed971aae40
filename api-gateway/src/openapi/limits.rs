//! The input limits of [`contracts::limits`], written into the document.
//! utoipa's `#[schema(max_length = …)]` takes only a literal, so the
//! derived schemas carry no numbers and this table sets them from the
//! constants the services validate with: one declaration for both.

use contracts::limits::{
    EMAIL_MAX_CHARS, MAX_AMOUNT_CENTS, MAX_LINES, MAX_OFFSET, MAX_QUANTITY, MAX_SKU_CHARS,
    NAME_MAX_CHARS, PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS,
};
use utoipa::{
    Number,
    openapi::{self, RefOr, Schema},
};

/// What one field or parameter may hold.
enum Limit {
    /// A string's length in characters: `minLength` (when given),
    /// `maxLength`.
    Chars(Option<usize>, usize),
    /// An integer's `minimum` (when given) and `maximum`.
    Range(Option<i64>, u64),
    /// An array's `minItems` and `maxItems`.
    Items(usize, usize),
}

/// Each limited property of a component schema.
const PROPERTIES: [(&str, &str, Limit); 7] = [
    (
        "CreateUserRequest",
        "name",
        Limit::Chars(Some(1), NAME_MAX_CHARS),
    ),
    (
        "CreateUserRequest",
        "email",
        Limit::Chars(None, EMAIL_MAX_CHARS),
    ),
    (
        "CreateUserRequest",
        "password",
        Limit::Chars(Some(PASSWORD_MIN_CHARS), PASSWORD_MAX_CHARS),
    ),
    (
        "TopUpRequest",
        "amount_cents",
        Limit::Range(Some(1), MAX_AMOUNT_CENTS as u64),
    ),
    ("OrderLine", "sku", Limit::Chars(Some(1), MAX_SKU_CHARS)),
    (
        "OrderLine",
        "quantity",
        Limit::Range(Some(1), MAX_QUANTITY as u64),
    ),
    ("CreateOrderRequest", "items", Limit::Items(1, MAX_LINES)),
];

/// Each limited query parameter: path, parameter, limit (of its `GET`).
const PARAMETERS: [(&str, &str, Limit); 1] = [("/users", "offset", Limit::Range(None, MAX_OFFSET))];

/// Sets every limit of the tables on `document`. A schema, property or
/// parameter the tables name and the document lacks is a renamed field:
/// a panic as the document is built, which every test of the gateway does.
pub(crate) fn describe_limits(document: &mut openapi::OpenApi) {
    let schemas = &mut document
        .components
        .as_mut()
        .expect("the document has components")
        .schemas;
    for (schema, property, limit) in &PROPERTIES {
        let target = match schemas.get_mut(*schema) {
            Some(RefOr::T(Schema::Object(object))) => object.properties.get_mut(*property),
            _ => None,
        };
        let target = target.unwrap_or_else(|| panic!("no {schema}.{property} to limit"));
        apply(target, limit);
    }
    for (path, name, limit) in &PARAMETERS {
        let parameter = document
            .paths
            .paths
            .get_mut(*path)
            .and_then(|item| item.get.as_mut())
            .and_then(|get| get.parameters.as_mut())
            .and_then(|parameters| {
                parameters.iter_mut().find_map(|parameter| match parameter {
                    RefOr::T(parameter) if parameter.name == *name => parameter.schema.as_mut(),
                    _ => None,
                })
            })
            .unwrap_or_else(|| panic!("no parameter {name} of GET {path} to limit"));
        apply(parameter, limit);
    }
}

fn apply(schema: &mut RefOr<Schema>, limit: &Limit) {
    match (schema, limit) {
        (RefOr::T(Schema::Object(object)), Limit::Chars(min, max)) => {
            object.min_length = min.or(object.min_length);
            object.max_length = Some(*max);
        }
        (RefOr::T(Schema::Object(object)), Limit::Range(min, max)) => {
            // Without one, the type's own (0 for an unsigned) stays.
            object.minimum = min.map(Number::from).or(object.minimum.take());
            object.maximum = Some(Number::from(*max));
        }
        (RefOr::T(Schema::Array(array)), Limit::Items(min, max)) => {
            array.min_items = Some(*min);
            array.max_items = Some(*max);
        }
        _ => panic!("a limit that does not fit its schema's type"),
    }
}
