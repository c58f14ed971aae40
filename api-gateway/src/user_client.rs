//! The gateway's client for user-service: one lazily connected HTTP/2 channel
//! shared by every request, a deadline on every call, and errors already
//! mapped to [`ApiError`].

use std::{future::Future, time::Duration};

use contracts::user::{self as pb, user_service_client::UserServiceClient};
use platform::propagation::{TracedChannel, traced};
use tonic::{Request, Response, Status, transport::Endpoint};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{Config, error::ApiError};

const SERVICE: &str = "user-service";

#[derive(Debug, Clone)]
pub struct UserClient {
    users: UserServiceClient<TracedChannel>,
    health: HealthClient<TracedChannel>,
    timeout: Duration,
}

impl UserClient {
    /// Builds the channel without connecting: the gateway starts (and answers
    /// 503) while user-service is still down, and connects on first use.
    pub fn connect_lazy(config: &Config) -> anyhow::Result<Self> {
        let channel = Endpoint::from_shared(config.user_service_url.clone())?
            .connect_timeout(config.connect_timeout)
            .tcp_nodelay(true)
            // Detects a dead peer on an idle connection instead of waiting for
            // the next call to time out.
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(10))
            .connect_lazy();
        // Every call carries the caller's W3C trace context in its metadata.
        let channel = traced(channel);
        Ok(Self {
            users: UserServiceClient::new(channel.clone()),
            health: HealthClient::new(channel),
            timeout: config.user_service_timeout,
        })
    }

    pub async fn create(&self, req: pb::CreateUser) -> Result<pb::User, ApiError> {
        let mut client = self.users.clone();
        self.call(client.create(self.request(req))).await
    }

    pub async fn find_one(&self, req: pb::UserById) -> Result<pb::User, ApiError> {
        let mut client = self.users.clone();
        self.call(client.find_one(self.request(req))).await
    }

    pub async fn top_up(&self, req: pb::CreditChange) -> Result<pb::Balance, ApiError> {
        let mut client = self.users.clone();
        self.call(client.top_up(self.request(req))).await
    }

    pub async fn find_all(&self, req: pb::ListUsers) -> Result<pb::Users, ApiError> {
        let mut client = self.users.clone();
        self.call(client.find_all(self.request(req))).await
    }

    /// Asks `grpc.health.v1` whether `user.UserService` is serving. Returns a
    /// human-readable reason when it is not.
    pub async fn check_health(&self, timeout: Duration) -> Result<(), String> {
        let mut client = self.health.clone();
        let mut req = Request::new(HealthCheckRequest {
            service: "user.UserService".into(),
        });
        req.set_timeout(timeout);
        match client.check(req).await {
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

    /// Wraps a message with the call's deadline. tonic enforces it on this
    /// side (a peer that accepted the connection and went silent still gets
    /// a timely answer) and sends it as `grpc-timeout`, so user-service can
    /// abandon work nobody waits for any more.
    fn request<T>(&self, msg: T) -> Request<T> {
        let mut req = Request::new(msg);
        req.set_timeout(self.timeout);
        req
    }

    async fn call<T>(
        &self,
        call: impl Future<Output = Result<Response<T>, Status>>,
    ) -> Result<T, ApiError> {
        call.await
            .map(Response::into_inner)
            .map_err(|status| ApiError::from_grpc(SERVICE, status))
    }
}
