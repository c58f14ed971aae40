//! The text a request body may carry: UTF-8 without control characters, in
//! every field of every body, JSON or form — refused here, at the edge,
//! with a 400 naming each bad field, as the services' own validation does.
//!
//! Why at the edge, and for every field: what reaches a service unchecked
//! reaches its database, and Postgres refuses a NUL in `text` outright
//! (`invalid byte sequence for encoding "UTF8": 0x00`) — an error the
//! service can only call internal, so a log-in with `%00` in its email was
//! a 500. Checking each field where it is used would leave the next field
//! added to a body unchecked; one rule over the parsed body cannot miss one.
//! No field of this API holds text that needs a control character (a name,
//! an email, a password, a SKU, an id), so the rule has no exceptions; a
//! body that one day takes multi-line text will need one, stated here.
//!
//! "Control character" is Unicode's general category Cc: U+0000–U+001F,
//! U+007F and U+0080–U+009F (`char::is_control`), the set [`PATTERN`]
//! excludes.
//!
//! Bytes that are not UTF-8 are refused too, never replaced: a JSON text is
//! UTF-8 (RFC 8259 §8.1), and a form is decoded as UTF-8 (WHATWG URL
//! Standard, `application/x-www-form-urlencoded` parsing), whose lossy
//! decoding would silently turn a client's bytes into U+FFFD.

use serde_json::{Map, Value};

use crate::error::{ApiError, FieldError};

/// The rule as a JSON Schema `pattern` (ECMA-262), which the OpenAPI
/// document gives every string a request body may hold
/// (`openapi.rs`).
pub const PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]*$";

const CONTROL: &str = "must not contain control characters";
const NOT_UTF8: &str = "is not valid UTF-8";

/// `Err` listing every field of `body` (a string value, or a key) holding a
/// control character.
pub fn check(body: &Value) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    each_text(body, &mut String::new(), &mut |field, text| {
        if text.chars().any(char::is_control) {
            errors.push(invalid(field, CONTROL));
        }
    });
    if errors.is_empty() {
        Ok(())
    } else {
        Err(refusal(errors))
    }
}

/// The refusal of a JSON body that is not UTF-8, naming the fields the bad
/// bytes are in when the rest of the body is JSON (serde_json itself only
/// says where, in lines and columns).
pub fn json_not_utf8(body: &[u8]) -> ApiError {
    let lossy = String::from_utf8_lossy(body);
    let mut errors = Vec::new();
    if let Ok(value) = serde_json::from_str::<Value>(&lossy) {
        each_text(&value, &mut String::new(), &mut |field, text| {
            if text.contains(char::REPLACEMENT_CHARACTER) {
                errors.push(invalid(field, NOT_UTF8));
            }
        });
    }
    if errors.is_empty() {
        let at = std::str::from_utf8(body)
            .err()
            .map_or(0, |e| e.valid_up_to());
        return ApiError::bad_request(format!(
            "the body is not UTF-8 (RFC 8259 §8.1): invalid bytes at offset {at}"
        ));
    }
    refusal(errors)
}

/// The fields of an `application/x-www-form-urlencoded` body as a JSON
/// object of strings, for a type to be read from as from a JSON body; or a
/// 400 naming every field that is not UTF-8, holds a control character, or
/// is given more than once (RFC 6749 §3.1: "parameters MUST NOT be
/// included more than once").
pub fn form_fields(body: &[u8]) -> Result<Value, ApiError> {
    let mut fields = Map::new();
    let mut errors = Vec::new();
    for pair in body.split(|&b| b == b'&').filter(|pair| !pair.is_empty()) {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &[][..]),
        };
        let name = match String::from_utf8(percent_decode(name)) {
            Ok(name) => name,
            Err(e) => {
                let name = String::from_utf8_lossy(e.as_bytes()).into_owned();
                errors.push(invalid(&name, "its name is not valid UTF-8"));
                continue;
            }
        };
        match String::from_utf8(percent_decode(value)) {
            Ok(value) => {
                if fields.insert(name.clone(), Value::String(value)).is_some() {
                    errors.push(invalid(&name, "is given more than once"));
                }
            }
            Err(_) => errors.push(invalid(&name, NOT_UTF8)),
        }
    }
    if !errors.is_empty() {
        return Err(refusal(errors));
    }
    let fields = Value::Object(fields);
    check(&fields)?;
    Ok(fields)
}

/// Calls `visit` with the path (`items[0].sku`) and text of every string
/// in `value`, and of every object key (its path is the key's own).
fn each_text(value: &Value, path: &mut String, visit: &mut impl FnMut(&str, &str)) {
    let len = path.len();
    match value {
        Value::String(text) => visit(path, text),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push_str(&format!("[{i}]"));
                each_text(item, path, visit);
                path.truncate(len);
            }
        }
        Value::Object(object) => {
            for (key, item) in object {
                if !path.is_empty() {
                    path.push('.');
                }
                // A key with a control character in it is named escaped.
                path.extend(key.chars().flat_map(char::escape_debug));
                visit(path, key);
                each_text(item, path, visit);
                path.truncate(len);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn invalid(field: &str, detail: &str) -> FieldError {
    FieldError {
        field: field.to_owned(),
        detail: detail.to_owned(),
    }
}

/// A 400 listing `errors` as user-service's `INVALID_ARGUMENT` does
/// (`field: what is wrong; …`).
fn refusal(errors: Vec<FieldError>) -> ApiError {
    let detail = errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.detail))
        .collect::<Vec<_>>()
        .join("; ");
    ApiError::BadRequest {
        detail: format!("invalid request: {detail}"),
        errors,
    }
}

/// `application/x-www-form-urlencoded` percent-decoding (WHATWG URL
/// Standard §5.1): `+` is a space, `%XX` the byte it names, and a `%` not
/// followed by two hex digits is kept as it is. The bytes are not read as
/// UTF-8 here: the caller refuses them if they are not, where the
/// standard's lossy decoding would replace them with U+FFFD.
fn percent_decode(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let byte = match raw[i] {
            b'+' => b' ',
            b'%' => match (
                raw.get(i + 1).and_then(|&b| hex(b)),
                raw.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(high), Some(low)) => {
                    i += 2;
                    high << 4 | low
                }
                _ => b'%',
            },
            other => other,
        };
        out.push(byte);
        i += 1;
    }
    out
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(error: ApiError) -> Vec<(String, String)> {
        match error {
            ApiError::BadRequest { errors, .. } => {
                errors.into_iter().map(|e| (e.field, e.detail)).collect()
            }
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn every_control_character_is_refused_naming_its_field() {
        for bad in [
            "\0", "\u{1}", "\t", "\n", "\u{1f}", "\u{7f}", "\u{85}", "\u{9f}",
        ] {
            let body =
                json!({"name": "Ada", "items": [{"sku": "MUG"}, {"sku": format!("A{bad}B")}]});
            assert_eq!(
                fields(check(&body).unwrap_err()),
                [("items[1].sku".into(), CONTROL.into())],
                "{bad:?}"
            );
        }
        let key = json!({"na\u{0}me": "Ada"});
        assert_eq!(fields(check(&key).unwrap_err())[0].0, "na\\0me");
    }

    #[test]
    fn text_without_control_characters_is_accepted() {
        let body = json!({"name": "Zoë 🦀 \u{a0}\u{ad}\u{fffd}", "n": 1.5, "ok": [true, null]});
        assert!(check(&body).is_ok());
    }

    #[test]
    fn a_json_body_that_is_not_utf8_names_the_field() {
        let body = b"{\"email\": \"ada\xff@example.com\", \"password\": \"p\"}";
        assert_eq!(
            fields(json_not_utf8(body)),
            [("email".into(), NOT_UTF8.into())]
        );
        // Outside any string: only a position can be given.
        let detail = json_not_utf8(b"{\xff}").to_string();
        assert!(detail.contains("offset 1"), "{detail}");
    }

    #[test]
    fn a_form_is_decoded_as_utf8_and_checked() {
        let form =
            form_fields(b"grant_type=password&username=ada%40example.com&password=a+b%2Bc%zz")
                .unwrap();
        assert_eq!(form["username"], "ada@example.com");
        assert_eq!(form["password"], "a b+c%zz");

        for (body, field, detail) in [
            (&b"username=ada%00&password=p"[..], "username", CONTROL),
            (b"username=ada%0A&password=p", "username", CONTROL),
            (b"username=ada%C2%85", "username", CONTROL),
            (b"username=ada&password=%FF", "password", NOT_UTF8),
            (b"username=ada&password=%C3", "password", NOT_UTF8),
            (b"username=ada&password=%ED%A0%80", "password", NOT_UTF8),
            (
                b"username=a&username=b",
                "username",
                "is given more than once",
            ),
        ] {
            assert_eq!(
                fields(form_fields(body).unwrap_err()),
                [(field.into(), detail.into())],
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
