//! Who is calling: the caller the gateway verified, read from the call's
//! metadata (see `contracts::identity`), and the access rules of each RPC
//! (the table in `proto/user.proto`).

use contracts::identity::{CALLER_ID_HEADER, CALLER_ROLE_HEADER, Caller};
use tonic::Request;
use uuid::Uuid;

use crate::error::Error;

/// The caller named in the metadata; a call without one is refused.
pub(crate) fn caller<T>(request: &Request<T>) -> Result<Caller, Error> {
    let metadata = request.metadata();
    let value = |key| metadata.get(key).and_then(|v| v.to_str().ok());
    Caller::from_headers(value(CALLER_ID_HEADER), value(CALLER_ROLE_HEADER))
        .ok_or(Error::Unauthenticated("this call needs a caller"))
}

/// The caller may read `user`: themselves, or anyone for an admin. Another
/// customer's user is NOT_FOUND, exactly like one that does not exist.
pub(crate) fn may_read(caller: &Caller, user: Uuid) -> Result<(), Error> {
    if caller.may_act_for(user) {
        Ok(())
    } else {
        Err(Error::NotFound(user))
    }
}

/// The caller is an admin.
pub(crate) fn admin_only(caller: &Caller) -> Result<(), Error> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(Error::PermissionDenied("only an admin may do this"))
    }
}
