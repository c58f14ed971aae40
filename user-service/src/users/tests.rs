use super::*;

const PASSWORD: &str = "correct horse battery";

fn fields(err: Error) -> Vec<&'static str> {
    match err {
        Error::InvalidArgument(v) => v.into_iter().map(|v| v.field).collect(),
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

#[test]
fn trims_valid_input() {
    let user = NewUser::parse("  Ada Lovelace ", " ada@example.com ", PASSWORD).unwrap();
    assert_eq!(user.name, "Ada Lovelace");
    assert_eq!(user.email, "ada@example.com");
}

#[test]
fn reports_every_bad_field_at_once() {
    assert_eq!(
        fields(NewUser::parse(" ", "nope", "short").unwrap_err()),
        ["name", "email", "password"]
    );
}

#[test]
fn rejects_oversized_and_control_character_names() {
    let long = "x".repeat(NAME_MAX_CHARS + 1);
    assert_eq!(
        fields(NewUser::parse(&long, "a@b.co", PASSWORD).unwrap_err()),
        ["name"]
    );
    assert_eq!(
        fields(NewUser::parse("a\u{0}b", "a@b.co", PASSWORD).unwrap_err()),
        ["name"]
    );
    // Multi-byte characters count as one each.
    assert!(NewUser::parse(&"é".repeat(NAME_MAX_CHARS), "a@b.co", PASSWORD).is_ok());
}

#[test]
fn rejects_malformed_emails() {
    for bad in [
        "plain",
        "@example.com",
        "a@b",
        "a@@b.co",
        "a b@c.co",
        "a@.co",
        "a@co.",
    ] {
        assert_eq!(
            fields(NewUser::parse("Ada", bad, PASSWORD).unwrap_err()),
            ["email"],
            "{bad}"
        );
    }
    let long = format!("{}@example.com", "a".repeat(250));
    assert_eq!(
        fields(NewUser::parse("Ada", &long, PASSWORD).unwrap_err()),
        ["email"]
    );
}

#[test]
fn parses_ids_or_names_the_field() {
    assert!(parse_id("0191e5f0-7a1e-7cc3-8f0e-8d1f4a2b3c4d").is_ok());
    assert_eq!(fields(parse_id("42").unwrap_err()), ["id"]);
}
