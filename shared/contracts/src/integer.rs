//! Integers as JSON Schema counts them. The API's document says `integer`,
//! and in JSON Schema a number is an integer when its value is one — `137`,
//! `137.0` and `1.37e2` alike (JSON Schema 2020-12 Validation §6.1.1:
//! "any number with a zero fractional part"). serde's integer types refuse
//! a JSON float whatever its value, so a client whose JSON library writes
//! every number as a float (JavaScript's, for one) would be told `137.0` is
//! not an integer.
//!
//! Use as `#[serde(deserialize_with = "contracts::integer::deserialize")]`
//! on an integer field of a request body. It reads any JSON integer, and a
//! float whose fractional part is zero; a fraction (`2.5`), a value outside
//! the field's type, or anything but a number is refused. Writing is
//! unchanged: an integer is always written without a fraction.
//!
//! A float is read as the double JSON parsers make of it, so beyond 2^53
//! `137.0`-style numbers are only as exact as a double; every integer this
//! API takes is bounded far below that.

use std::fmt;

use serde::{
    Deserializer,
    de::{Error, Unexpected, Visitor},
};

/// An integer of type `T` from a JSON integer, or from a float with a zero
/// fractional part.
pub fn deserialize<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    let value = deserializer.deserialize_any(Integral)?;
    T::try_from(value).map_err(|_| {
        D::Error::invalid_value(
            Unexpected::Other(&value.to_string()),
            &"an integer in the field's range",
        )
    })
}

/// Reads any JSON number that is an integer, as an `i128` (which holds
/// every `i64` and `u64`), for [`deserialize`] to narrow.
struct Integral;

/// `i128`'s range as doubles: every double strictly inside it converts
/// exactly.
const I128_LIMIT: f64 = 1.7e38;

impl Visitor<'_> for Integral {
    type Value = i128;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer")
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<i128, E> {
        Ok(v.into())
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<i128, E> {
        Ok(v.into())
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<i128, E> {
        // NaN and the infinities have no zero fractional part (JSON has
        // neither anyway).
        if v.fract() == 0.0 && v.abs() < I128_LIMIT {
            // Integral and in range: exact.
            Ok(v as i128)
        } else {
            Err(E::invalid_type(Unexpected::Float(v), &self))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    struct Line {
        #[serde(deserialize_with = "super::deserialize")]
        quantity: i64,
        #[serde(deserialize_with = "super::deserialize")]
        limit: u32,
    }

    fn read(quantity: serde_json::Value) -> Result<i64, String> {
        Line::deserialize(json!({"quantity": quantity, "limit": 1}))
            .map(|line| line.quantity)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn an_integral_float_is_an_integer() {
        assert_eq!(read(json!(137)), Ok(137));
        assert_eq!(read(json!(137.0)), Ok(137));
        assert_eq!(read(json!(-3.0)), Ok(-3));
        assert_eq!(read(json!(-0.0)), Ok(0));
        // As a client's JSON text has it, not only as serde_json writes it.
        let parsed: Line = serde_json::from_str(r#"{"quantity": 1.37e2, "limit": 5.0}"#).unwrap();
        assert_eq!((parsed.quantity, parsed.limit), (137, 5));
    }

    #[test]
    fn a_fraction_another_type_or_a_value_out_of_range_is_refused() {
        for refused in [
            json!(2.5),
            json!(1e-9),
            json!("137"),
            json!(true),
            json!(null),
            json!(1e300),
            json!(9_223_372_036_854_775_808_u64),
        ] {
            assert!(read(refused.clone()).is_err(), "{refused}");
        }
        for refused in [json!(-1), json!(-1.0), json!(4_294_967_296.0_f64)] {
            let read = Line::deserialize(json!({"quantity": 1, "limit": refused}));
            assert!(read.is_err(), "limit {refused}");
        }
        let message = read(json!(2.5)).unwrap_err();
        assert!(message.contains("expected an integer"), "{message}");
    }
}
