//! Every limit on what a client may send, declared once. The services
//! validate against these; the gateway's OpenAPI document states them
//! (api-gateway/src/openapi/limits.rs) — set on the derived schemas, since
//! utoipa's `#[schema(max_length = …)]` takes only a literal, which would
//! be a second copy.

/// A user's name, in characters after trimming.
pub const NAME_MAX_CHARS: usize = 100;
/// RFC 5321 limits a forward path to 256 octets including the angle
/// brackets.
pub const EMAIL_MAX_CHARS: usize = 254;
/// A password, in characters: long passphrases welcome; the upper bound
/// keeps a hash's input bounded.
pub const PASSWORD_MIN_CHARS: usize = 12;
pub const PASSWORD_MAX_CHARS: usize = 128;

/// One million dollars: a larger top-up is a bug or an attack.
pub const MAX_AMOUNT_CENTS: i64 = 100_000_000;
/// A credit operation's idempotency key, in characters.
pub const MAX_KEY_CHARS: usize = 255;

/// Users per page at most (`GET /users?limit=`); more is capped.
pub const MAX_PAGE_SIZE: u32 = 100;
/// A page of at most this many users is skipped over: deep `OFFSET`s cost
/// the database a scan of every row before them.
pub const MAX_OFFSET: u64 = 10_000;

/// Lines of one order.
pub const MAX_LINES: usize = 50;
/// Of one product in one order.
pub const MAX_QUANTITY: i64 = 1_000;
pub const MAX_SKU_CHARS: usize = 64;
/// The `Idempotency-Key` header of `POST /orders`, in (ASCII) characters.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
