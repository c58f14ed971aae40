//! Which *service* is calling, from the SPIFFE ID of the client certificate
//! the TLS handshake verified (`platform::tls::spiffe`: only an ID of this
//! trust domain and namespace names a service), and which RPCs each service may
//! call: the one table, enforced by [`AuthorizeLayer`] for every call before
//! any handler runs. The *user* a call is made for is checked after that, by
//! the handler ([`crate::access`]).
//!
//! No certificate, or one naming no service here: UNAUTHENTICATED. A known service on an RPC not granted
//! to it: PERMISSION_DENIED. A path without a rule — made up, or an RPC
//! added to the proto and not here — is UNIMPLEMENTED for everyone, as tonic
//! would answer it: its path never becomes a metric label (the metrics
//! layer labels UNIMPLEMENTED calls `unknown`), so inventing paths cannot
//! create series.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use contracts::identity::{API_GATEWAY, ORDER_SERVICE};
use futures_util::future::{Either, Ready, ready};
use platform::tls::Spiffe;
use tonic::Status;
use tower::{Layer, Service};

/// Who may call an RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    /// Anyone, certificate or not: health checks (probes, load balancers)
    /// and, when enabled, reflection.
    Anyone,
    /// Only these services.
    Services(&'static [&'static str]),
}

/// The table (`proto/user.proto` says the same beside each RPC); `None` for
/// a path it does not know.
fn grant(path: &str) -> Option<Grant> {
    if path.starts_with("/grpc.health.v1.Health/") || path.starts_with("/grpc.reflection.") {
        return Some(Grant::Anyone);
    }
    match path.strip_prefix("/user.UserService/")? {
        // order-service reads no user (it debits and refunds by id): a
        // grant it does not use would only widen what its key can do.
        "FindOne" | "FindAll" | "Create" | "IssueToken" | "GetJwks" | "TopUp" => {
            Some(Grant::Services(&[API_GATEWAY]))
        }
        // The saga's: only order-service moves credit for an order.
        "Debit" | "Refund" => Some(Grant::Services(&[ORDER_SERVICE])),
        _ => None,
    }
}

/// Whether a caller presenting certificates for `peers` may call `path`.
fn authorize(path: &str, peers: &[String]) -> Result<(), Status> {
    let Some(grant) = grant(path) else {
        return Err(Status::unimplemented(""));
    };
    let Grant::Services(allowed) = grant else {
        return Ok(());
    };
    if peers.is_empty() {
        return Err(Status::unauthenticated(
            "this call needs a client certificate naming a service of this namespace \
             (a SPIFFE ID)",
        ));
    }
    if peers.iter().any(|peer| allowed.contains(&peer.as_str())) {
        Ok(())
    } else {
        Err(Status::permission_denied(format!(
            "{} may not call {path}",
            peers.join(", ")
        )))
    }
}

/// `Server::builder().layer(AuthorizeLayer::new(..))`: refuses every call
/// the table does not grant to its caller.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuthorizeLayer {
    /// Where callers must come from; `None` without TLS (no caller is known).
    spiffe: Option<Arc<Spiffe>>,
}

impl AuthorizeLayer {
    /// Callers judged by `spiffe` (the service's TLS setting's).
    pub(crate) fn new(spiffe: Option<Spiffe>) -> Self {
        Self {
            spiffe: spiffe.map(Arc::new),
        }
    }
}

impl<S> Layer<S> for AuthorizeLayer {
    type Service = Authorize<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authorize {
            inner,
            spiffe: self.spiffe.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Authorize<S> {
    inner: S,
    spiffe: Option<Arc<Spiffe>>,
}

impl<S, B, R> Service<http::Request<B>> for Authorize<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    R: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Self::Response, Self::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let peer = self
            .spiffe
            .as_deref()
            .and_then(|spiffe| platform::tls::peer(request.extensions(), spiffe))
            .unwrap_or_default();
        match authorize(request.uri().path(), &peer.services) {
            Ok(()) => Either::Left(self.inner.call(request)),
            Err(status) => {
                // A certificate our CA signed, calling outside its grant or
                // naming no service here, is a bug or a compromise: worth a
                // warning. Anonymous callers are noise anyone can make
                // (counted by the metrics layer all the same).
                let rpc = request.uri().path();
                if peer.presented.is_empty() && peer.services.is_empty() {
                    tracing::debug!(rpc, %status, "refused a call without a service identity");
                } else {
                    tracing::warn!(rpc, identities = ?peer.presented, %status, "refused a call");
                }
                Either::Right(ready(Ok(status.into_http())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(names: &[&str]) -> Vec<String> {
        names.iter().map(|&n| n.to_owned()).collect()
    }

    #[test]
    fn the_saga_rpcs_are_order_services_alone() {
        for rpc in ["/user.UserService/Debit", "/user.UserService/Refund"] {
            assert!(authorize(rpc, &peers(&[ORDER_SERVICE])).is_ok());
            let denied = authorize(rpc, &peers(&[API_GATEWAY])).unwrap_err();
            assert_eq!(denied.code(), tonic::Code::PermissionDenied);
            let nobody = authorize(rpc, &[]).unwrap_err();
            assert_eq!(nobody.code(), tonic::Code::Unauthenticated);
        }
    }

    #[test]
    fn reads_credit_and_accounts_for_the_gateway_only() {
        for rpc in [
            "FindOne",
            "TopUp",
            "FindAll",
            "Create",
            "IssueToken",
            "GetJwks",
        ] {
            let path = format!("/user.UserService/{rpc}");
            assert!(authorize(&path, &peers(&[API_GATEWAY])).is_ok(), "{rpc}");
            assert!(authorize(&path, &peers(&[ORDER_SERVICE])).is_err(), "{rpc}");
        }
    }

    #[test]
    fn health_is_open_and_an_unknown_rpc_is_unimplemented_for_everyone() {
        assert!(authorize("/grpc.health.v1.Health/Check", &[]).is_ok());
        // Unimplemented, which the metrics layer labels `unknown`: a made-up
        // path never becomes a label, whoever sends it.
        for caller in [&[][..], &peers(&[API_GATEWAY])[..]] {
            for path in ["/user.UserService/DropAll", "/other.Service/Call", "/x"] {
                let refused = authorize(path, caller).unwrap_err();
                assert_eq!(refused.code(), tonic::Code::Unimplemented, "{path}");
            }
        }
    }
}
