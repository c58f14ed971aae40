//! A fair share of the gateway for every client. The global concurrency
//! limit (`MAX_CONCURRENT_REQUESTS`, [`crate::http`]) protects the gateway;
//! these keep one client from taking all of it:
//!
//! - **Requests in flight per client** (`MAX_CONCURRENT_REQUESTS_PER_CLIENT`):
//!   per address ([`crate::clients`]) here, per signed-in user in
//!   [`crate::auth::require`]. Past it: 429 with `Retry-After`, at once.
//! - **The body is read before a global slot is taken**, within
//!   `BODY_READ_TIMEOUT`: a request whose body does not arrive (trickled, or
//!   an HTTP/2 stream holding back its DATA) holds only its own client's
//!   slot, and only until the timeout — then 408 and, on HTTP/1.1, the
//!   connection is closed. Bodies are small here (`BODY_LIMIT_BYTES`), so
//!   buffering them costs little; one larger than the limit is refused
//!   before it is read when it declares its length.
//!
//! The connection-level limits (connections per address, streams per
//! HTTP/2 connection, idle connections) are the server loop's,
//! [`crate::serve`].

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use axum::{
    body::Body,
    extract::{ConnectInfo, Request, State},
    http::{HeaderValue, StatusCode, Version, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::{clients::TrustedProxies, error::ApiError, problem::Problem};

/// Counts what each key holds (requests in flight, open connections) and
/// refuses a key at its limit. A key is forgotten when it holds nothing, so
/// the map is as large as the number of clients active right now.
#[derive(Debug)]
pub(crate) struct PerClient<K> {
    limit: usize,
    held: Mutex<HashMap<K, usize>>,
}

/// One unit a key holds; given back when dropped.
#[derive(Debug)]
pub(crate) struct Held<K: Hash + Eq + Copy> {
    counts: Arc<PerClient<K>>,
    key: K,
}

impl<K: Hash + Eq + Copy> PerClient<K> {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit: limit.max(1),
            held: Mutex::default(),
        })
    }

    /// One more for `key`, or `None` when it holds its limit already.
    pub(crate) fn try_take(self: &Arc<Self>, key: K) -> Option<Held<K>> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(key).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Held {
            counts: self.clone(),
            key,
        })
    }

    /// What `key` holds right now (for the tests).
    #[cfg(test)]
    fn held_by(&self, key: K) -> usize {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.get(&key).copied().unwrap_or(0)
    }
}

impl<K: Hash + Eq + Copy> Drop for Held<K> {
    fn drop(&mut self) {
        let mut held = self
            .counts
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

/// What [`admit`] needs, built once from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct Admission {
    pub proxies: TrustedProxies,
    pub per_address: Arc<PerClient<std::net::IpAddr>>,
    pub body_timeout: Duration,
    pub body_limit: usize,
}

/// Resolves the client ([`ClientAddr`], into the request's extensions),
/// takes one of its slots, and reads the whole body within the body
/// timeout — all before the request reaches the global limit.
pub(crate) async fn admit(
    State(admission): State<Admission>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |info| info.0.ip());
    let client = admission.proxies.client(peer, req.headers());
    req.extensions_mut().insert(client);
    let Some(_slot) = admission.per_address.try_take(client.key()) else {
        metrics::counter!("http_fair_share_refusals_total", "limit" => "address").increment(1);
        return too_many_in_flight();
    };
    let req = match read_body(req, &admission).await {
        Ok(req) => req,
        Err(response) => return response,
    };
    next.run(req).await
}

/// 429 for a client at its share.
pub(crate) fn too_many_in_flight() -> Response {
    ApiError::TooManyRequests {
        detail: "too many requests in flight from this client; wait for some to finish".into(),
        retry_after: Duration::from_secs(1),
    }
    .into_response()
}

/// The request with its body read into memory, or the answer when it is
/// too large (413), does not arrive in time (408) or breaks off (400).
async fn read_body(req: Request, admission: &Admission) -> Result<Request, Response> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let version = req.version();
    if declared.is_some_and(|length| length > admission.body_limit as u64) {
        return Err(too_large(version));
    }
    let (parts, body) = req.into_parts();
    let read = Limited::new(body, admission.body_limit).collect();
    let bytes = match tokio::time::timeout(admission.body_timeout, read).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) if error.is::<LengthLimitError>() => return Err(too_large(version)),
        Ok(Err(_)) => {
            let problem = Problem::new(StatusCode::BAD_REQUEST, "the request body broke off");
            return Err(problem.into_response());
        }
        Err(_) => {
            metrics::counter!("http_fair_share_refusals_total", "limit" => "body_timeout")
                .increment(1);
            return Err(body_timed_out(version));
        }
    };
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// 413, before the body is read when it declares its length.
fn too_large(version: Version) -> Response {
    let problem = Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "the request body is larger than the gateway accepts",
    );
    closing(problem.into_response(), version)
}

/// 408 (RFC 9110 §15.5.9).
fn body_timed_out(version: Version) -> Response {
    let problem = Problem::new(
        StatusCode::REQUEST_TIMEOUT,
        "the request body did not arrive in time",
    );
    closing(problem.into_response(), version)
}

/// A refusal that leaves the body unread: on HTTP/1.1 the connection is
/// closed with it — what is left of the body cannot be told from a next
/// request — and says so (`Connection: close`), or a client would send its
/// next request on a connection that is closing. (HTTP/2 resets only the
/// stream.)
fn closing(mut response: Response, version: Version) -> Response {
    if version < Version::HTTP_2 {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_holds_at_most_its_limit_and_others_are_unaffected() {
        let counts = PerClient::new(2);
        let a = counts.try_take("a").unwrap();
        let _a2 = counts.try_take("a").unwrap();
        assert!(counts.try_take("a").is_none());
        assert!(counts.try_take("b").is_some(), "another key is not limited");
        drop(a);
        assert_eq!(counts.held_by("a"), 1);
        assert!(
            counts.try_take("a").is_some(),
            "a slot given back is free again"
        );
    }

    #[test]
    fn a_key_that_holds_nothing_is_forgotten() {
        let counts = PerClient::new(1);
        drop(counts.try_take(7));
        assert!(counts.held.lock().unwrap().is_empty());
    }
}
