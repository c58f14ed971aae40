//! Abuse from outside: one client cannot take the shop from the others
//! (docs/security.md, "An edge that holds under abuse"). Any 127.x address
//! is another client here: the attacker binds [`ATTACKER`], the customer
//! [`CUSTOMER`].
//!
//! - slow bodies and HTTP/2 streams that hold back their DATA, from one
//!   address, leave the other clients their share; the attacker's slots
//!   come back within the body timeout;
//! - a flood of sign-ups from one address is refused at once, and log-ins
//!   go on;
//! - a hundred wrong passwords for an account from one address do not lock
//!   its owner out from another.

mod edge;
mod passwords;

pub(crate) use system_tests::attack::{ATTACKER, CUSTOMER, client_from, connect_from};
