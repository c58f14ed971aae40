//! The gateway's client for user-service: lazily connected HTTP/2 channels to
//! every user-service server, shared by every request and balanced
//! ([`platform::balance`]), a deadline on every call, and errors already
//! mapped to [`ApiError`].

use std::{future::Future, time::Duration};

use contracts::{
    identity::{CALLER_ID_HEADER, CALLER_ROLE_HEADER, Caller, USER_SERVICE},
    user::{self as pb, user_service_client::UserServiceClient},
};
use platform::balance::{Balanced, Retry, ServerChannel};
use tonic::{Request, Response, Status};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{Config, error::ApiError};

const SERVICE: &str = "user-service";

#[derive(Debug, Clone)]
pub struct UserClient {
    servers: Balanced,
    timeout: Duration,
}

impl UserClient {
    /// Channels to every user-service server without connecting: the gateway
    /// starts (and answers 503) while user-service is still down, and
    /// connects on first use. Calls are spread over the servers.
    pub async fn connect_lazy(config: &Config) -> anyhow::Result<Self> {
        let connect_timeout = config.connect_timeout;
        let tls = config.tls.clone();
        let servers = Balanced::new(&config.user_service_url, move |endpoint| {
            platform::tls::endpoint(endpoint, tls.as_ref(), USER_SERVICE)
                .connect_timeout(connect_timeout)
                .tcp_nodelay(true)
                // Detects a dead peer on an idle connection instead of
                // waiting for the next call to time out.
                .http2_keep_alive_interval(Duration::from_secs(30))
                .keep_alive_timeout(Duration::from_secs(10))
        })
        .await?;
        Ok(Self {
            servers,
            timeout: config.user_service_timeout,
        })
    }

    pub async fn create(&self, req: pb::CreateUser) -> Result<pb::User, ApiError> {
        self.call(
            None,
            Retry::Once,
            |mut client, req| async move { client.create(req).await },
            req,
        )
        .await
    }

    /// Log-in: never retried on another server (a retry would be a second
    /// attempt against the rate limit's count, and costs a hash).
    pub async fn issue_token(&self, req: pb::Credentials) -> Result<pb::AccessToken, ApiError> {
        self.call(
            None,
            Retry::Once,
            |mut client, req| async move { client.issue_token(req).await },
            req,
        )
        .await
    }

    /// The JWK Set tokens are verified with, as JSON.
    pub async fn jwks(&self) -> Result<String, ApiError> {
        self.call(
            None,
            Retry::Idempotent,
            |mut client, req| async move { client.get_jwks(req).await },
            pb::JwksRequest {},
        )
        .await
        .map(|jwks| jwks.json)
    }

    pub async fn find_one(&self, caller: &Caller, req: pb::UserById) -> Result<pb::User, ApiError> {
        self.call(
            Some(caller),
            Retry::Idempotent,
            |mut client, req| async move { client.find_one(req).await },
            req,
        )
        .await
    }

    pub async fn top_up(
        &self,
        caller: &Caller,
        req: pb::CreditChange,
    ) -> Result<pb::Balance, ApiError> {
        // With the client's Idempotency-Key a repeat cannot credit twice.
        let retry = if req.idempotency_key.is_empty() {
            Retry::Once
        } else {
            Retry::Idempotent
        };
        self.call(
            Some(caller),
            retry,
            |mut client, req| async move { client.top_up(req).await },
            req,
        )
        .await
    }

    pub async fn find_all(
        &self,
        caller: &Caller,
        req: pb::ListUsers,
    ) -> Result<pb::Users, ApiError> {
        self.call(
            Some(caller),
            Retry::Idempotent,
            |mut client, req| async move { client.find_all(req).await },
            req,
        )
        .await
    }

    /// Asks every server's `grpc.health.v1` whether `user.UserService` is
    /// serving: `Ok` when at least one is (calls skip the others), else the
    /// reason each one gave.
    pub async fn check_health(&self, timeout: Duration) -> Result<(), String> {
        let mut checks = tokio::task::JoinSet::new();
        for (server, channel) in self.servers.servers() {
            checks.spawn(async move { (server, check_one(channel, timeout).await) });
        }
        let results = checks.join_all().await;
        if results.iter().any(|(_, result)| result.is_ok()) {
            return Ok(());
        }
        let reasons: Vec<String> = results
            .into_iter()
            .map(|(server, result)| format!("{server}: {}", result.err().unwrap_or_default()))
            .collect();
        Err(reasons.join("; "))
    }

    /// Wraps a message with the call's deadline and its caller. tonic
    /// enforces the deadline on this side (a peer that accepted the
    /// connection and went silent still gets a timely answer) and sends it
    /// as `grpc-timeout`, so user-service can abandon work nobody waits for
    /// any more. The caller goes as metadata, for user-service to check
    /// access again.
    fn request<T>(&self, caller: Option<&Caller>, msg: T) -> Request<T> {
        let mut req = Request::new(msg);
        req.set_timeout(self.timeout);
        if let Some(caller) = caller {
            let metadata = req.metadata_mut();
            metadata.insert(
                CALLER_ID_HEADER,
                caller.user_id.to_string().parse().expect("a UUID is ASCII"),
            );
            metadata.insert(
                CALLER_ROLE_HEADER,
                tonic::metadata::MetadataValue::from_static(caller.role.as_str()),
            );
        }
        req
    }

    /// One call, on the next reachable server, with the deadline; errors
    /// mapped to [`ApiError`] in one place.
    async fn call<M, T, F, Fut>(
        &self,
        caller: Option<&Caller>,
        retry: Retry,
        call: F,
        msg: M,
    ) -> Result<T, ApiError>
    where
        M: Clone,
        F: Fn(UserServiceClient<ServerChannel>, Request<M>) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        self.servers
            .call(retry, |channel| {
                call(
                    UserServiceClient::new(channel),
                    self.request(caller, msg.clone()),
                )
            })
            .await
            .map(Response::into_inner)
            .map_err(|status| ApiError::from_grpc(SERVICE, status))
    }
}

async fn check_one(channel: ServerChannel, timeout: Duration) -> Result<(), String> {
    let mut req = Request::new(HealthCheckRequest {
        service: "user.UserService".into(),
    });
    req.set_timeout(timeout);
    match HealthClient::new(channel).check(req).await {
        Err(status) if status.code() == tonic::Code::Cancelled => {
            Err(format!("no answer within {timeout:?}"))
        }
        Err(status) => Err(format!("{:?}: {}", status.code(), status.message())),
        Ok(resp) => match resp.into_inner().status() {
            ServingStatus::Serving => Ok(()),
            other => Err(format!("reports {}", other.as_str_name())),
        },
    }
}
