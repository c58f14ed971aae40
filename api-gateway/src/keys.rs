//! The keys access tokens are verified with: a JWK Set (RFC 7517) fetched
//! from the issuer — user-service over gRPC by default, an external OpenID
//! Connect provider's `jwks_uri` over HTTPS when `AUTH_JWKS_URL` is set —
//! and kept in memory.
//!
//! Fetched on first use and again when a token names a `kid` the set does
//! not have (the issuer rotated its key), at most once per
//! [`MIN_REFRESH_INTERVAL`] so a flood of tokens with made-up kids cannot
//! turn into a flood of fetches; and every [`MAX_AGE`], so a key the issuer
//! withdrew stops verifying. While the issuer is unreachable the last set
//! keeps working.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::body::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use jsonwebtoken::{
    Algorithm, DecodingKey,
    jwk::{JwkSet, KeyAlgorithm},
};
use tokio::sync::{Mutex, RwLock};

use crate::{error::ApiError, user_client::UserClient};

/// Short, so a token signed with a key published a moment ago is refused for
/// at most this long; long enough that made-up `kid`s cannot turn into more
/// than one fetch a second.
pub(crate) const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(1);
pub(crate) const MAX_AGE: Duration = Duration::from_secs(5 * 60);
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// A key set is a few keys; anything larger is not one.
const MAX_JWKS_BYTES: usize = 64 * 1024;

/// An HTTP(S) client for an issuer's `jwks_uri`: TLS by rustls with the
/// ring provider and the platform's trust store.
pub(crate) type HttpsClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

pub(crate) fn https_client() -> std::io::Result<HttpsClient> {
    let connector = HttpsConnectorBuilder::new()
        .with_provider_and_platform_verifier(rustls::crypto::ring::default_provider())?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// Where the key set comes from.
#[derive(Debug, Clone)]
pub(crate) enum KeySource {
    /// user-service's `GetJwks`.
    UserService(UserClient),
    /// An external issuer's JWKS document.
    Url { url: String, http: Box<HttpsClient> },
}

/// A verification key and the one algorithm it may be used with.
#[derive(Clone)]
pub(crate) struct Key {
    pub key: DecodingKey,
    pub algorithm: Algorithm,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Cached {
    keys: HashMap<String, Key>,
    /// When the set was last fetched.
    fetched: Option<Instant>,
    /// When a fetch was last tried, and whether it failed: a failed fetch
    /// is not retried before [`MIN_REFRESH_INTERVAL`] either, so an issuer
    /// that is down costs one attempt per interval, not one per request.
    attempted: Option<(Instant, bool)>,
}

impl Cached {
    fn fresh(&self, kid: &str) -> Option<Key> {
        let fresh = self.fetched.is_some_and(|at| at.elapsed() < MAX_AGE);
        self.keys.get(kid).filter(|_| fresh).cloned()
    }

    fn fetch_due(&self) -> bool {
        self.attempted
            .is_none_or(|(at, _)| at.elapsed() >= MIN_REFRESH_INTERVAL)
    }
}

/// Why no key could be found.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyError {
    #[error("the token's key is not one the issuer publishes")]
    UnknownKid,
    /// The issuer did not answer (as user-service's client reports it:
    /// 503, or 504 past its deadline).
    #[error("the issuer's keys could not be fetched: {0}")]
    Unavailable(ApiError),
}

#[derive(Clone)]
pub(crate) struct KeySet {
    source: KeySource,
    cached: Arc<RwLock<Cached>>,
    /// One fetch at a time; the others wait for its result.
    fetching: Arc<Mutex<()>>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl KeySet {
    pub(crate) fn new(source: KeySource) -> Self {
        Self {
            source,
            cached: Arc::default(),
            fetching: Arc::default(),
        }
    }

    /// The key `kid` names, fetching the set when it is missing or stale.
    pub(crate) async fn get(&self, kid: &str) -> Result<Key, KeyError> {
        if let Some(key) = self.cached.read().await.fresh(kid) {
            return Ok(key);
        }
        let _fetching = self.fetching.lock().await;
        // Another request may have refreshed while this one waited.
        let due = {
            let cached = self.cached.read().await;
            if let Some(key) = cached.fresh(kid) {
                return Ok(key);
            }
            cached.fetch_due()
        };
        if due {
            let fetched = self.fetch().await;
            let mut cached = self.cached.write().await;
            match fetched {
                Ok(keys) => {
                    cached.keys = keys;
                    cached.fetched = Some(Instant::now());
                    cached.attempted = Some((Instant::now(), false));
                }
                Err(e) => {
                    cached.attempted = Some((Instant::now(), true));
                    // Keep serving with what we have (a stale but real key
                    // set) rather than refuse every token while the issuer
                    // is away.
                    return cached
                        .keys
                        .get(kid)
                        .cloned()
                        .ok_or(KeyError::Unavailable(e));
                }
            }
        }
        let cached = self.cached.read().await;
        match (cached.keys.get(kid), cached.attempted) {
            (Some(key), _) => Ok(key.clone()),
            (None, Some((_, true))) => Err(KeyError::Unavailable(ApiError::Unavailable(
                "the token issuer is unavailable; try again shortly".into(),
            ))),
            (None, _) => Err(KeyError::UnknownKid),
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, Key>, ApiError> {
        let issuer_down = |detail: String| {
            tracing::warn!(%detail, "fetching the token issuer's keys failed");
            ApiError::Unavailable("the token issuer is unavailable; try again shortly".into())
        };
        let json = match &self.source {
            KeySource::UserService(users) => users.jwks().await?,
            KeySource::Url { url, http } => tokio::time::timeout(FETCH_TIMEOUT, get(http, url))
                .await
                .map_err(|_| issuer_down(format!("no answer within {FETCH_TIMEOUT:?}")))?
                .map_err(issuer_down)?,
        };
        let set: JwkSet =
            serde_json::from_str(&json).map_err(|e| issuer_down(format!("not a JWK Set: {e}")))?;
        Ok(usable(&set))
    }
}

/// The body of a successful `GET url`, at most [`MAX_JWKS_BYTES`].
async fn get(http: &HttpsClient, url: &str) -> Result<String, String> {
    let uri: axum::http::Uri = url.parse().map_err(|e| format!("{e}"))?;
    let response = http.get(uri).await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("answered {}", response.status()));
    }
    let body = Limited::new(response.into_body(), MAX_JWKS_BYTES)
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    String::from_utf8(body.to_vec()).map_err(|e| e.to_string())
}

/// The keys of a set that can verify signatures: with a `kid`, an asymmetric
/// algorithm, and not marked for encryption. An HMAC key in a public set
/// would let anyone who read the set forge tokens, so `oct` keys never count.
fn usable(set: &JwkSet) -> HashMap<String, Key> {
    set.keys
        .iter()
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            let algorithm = match jwk.common.key_algorithm? {
                KeyAlgorithm::EdDSA => Algorithm::EdDSA,
                KeyAlgorithm::ES256 => Algorithm::ES256,
                KeyAlgorithm::ES384 => Algorithm::ES384,
                KeyAlgorithm::RS256 => Algorithm::RS256,
                KeyAlgorithm::RS384 => Algorithm::RS384,
                KeyAlgorithm::RS512 => Algorithm::RS512,
                KeyAlgorithm::PS256 => Algorithm::PS256,
                _ => return None,
            };
            let for_signing = !matches!(
                jwk.common.public_key_use,
                Some(jsonwebtoken::jwk::PublicKeyUse::Encryption)
            );
            let key = DecodingKey::from_jwk(jwk).ok()?;
            for_signing.then_some((kid, Key { key, algorithm }))
        })
        .collect()
}
