//! order-service's client for user-service: lazily connected channels to
//! every user-service server, balanced ([`platform::balance`]),
//! a deadline on every call, and the caller's trace context in its metadata.
//! The saga charges and refunds store credit through it.

use std::time::Duration;

use contracts::{
    ErrorCode, ServiceError,
    identity::USER_SERVICE,
    user::{CreditChange, RefundRequest, user_service_client::UserServiceClient},
};
use platform::balance::{Balanced, Retry};
use tonic::Code;
use uuid::Uuid;

use crate::Config;

/// How a debit ended.
#[derive(Debug)]
pub enum Charge {
    Charged,
    /// A business answer: insufficient credit, unknown user. Nothing taken.
    Declined(ServiceError),
    /// No answer that says what happened (user-service down, slow): the
    /// debit may or may not have been applied.
    Unknown(String),
}

/// The saga's side of user-service (the gateway has its own `UserClient`,
/// for the routes' calls).
#[derive(Debug, Clone)]
pub struct UserClient {
    servers: Balanced,
    timeout: Duration,
}

impl UserClient {
    /// Channels to every user-service server in `USER_SERVICE_URL`,
    /// connected on first use; calls are balanced over them.
    pub async fn connect_lazy(config: &Config) -> anyhow::Result<Self> {
        let tls = config.tls.clone();
        let servers = Balanced::new(&config.user_service_url, move |endpoint| {
            platform::tls::endpoint(endpoint, tls.as_ref(), USER_SERVICE)
                .connect_timeout(Duration::from_secs(1))
                .tcp_nodelay(true)
        })
        .await?;
        Ok(Self {
            servers,
            timeout: config.user_service_timeout,
        })
    }

    /// Debits `amount_cents`, keyed by `key`: calling again with the same key
    /// never charges twice — which is also why a broken connection may send
    /// the call to another server.
    pub async fn debit(&self, user: Uuid, amount_cents: i64, key: &str) -> Charge {
        let change = CreditChange {
            user_id: user.to_string(),
            amount_cents,
            idempotency_key: key.to_owned(),
        };
        let debited = self
            .servers
            .call(Retry::Idempotent, |channel| {
                let request = self.request(change.clone());
                async move { UserServiceClient::new(channel).debit(request).await }
            })
            .await;
        match debited {
            Ok(_) => Charge::Charged,
            Err(status) => match status.code() {
                Code::FailedPrecondition => Charge::Declined(ServiceError::new(
                    ErrorCode::FailedPrecondition,
                    status.message(),
                )),
                Code::NotFound => {
                    Charge::Declined(ServiceError::new(ErrorCode::NotFound, status.message()))
                }
                Code::InvalidArgument => Charge::Declined(ServiceError::new(
                    ErrorCode::InvalidArgument,
                    status.message(),
                )),
                code => Charge::Unknown(format!("{code:?}: {}", status.message())),
            },
        }
    }

    /// Refunds what the debit keyed `debit_key` took, if anything, at most
    /// once. `Err` when user-service could not be reached.
    pub async fn refund(&self, user: Uuid, debit_key: &str) -> Result<(), String> {
        let refund = RefundRequest {
            user_id: user.to_string(),
            debit_idempotency_key: debit_key.to_owned(),
        };
        let refunded = self
            .servers
            .call(Retry::Idempotent, |channel| {
                let request = self.request(refund.clone());
                async move { UserServiceClient::new(channel).refund(request).await }
            })
            .await;
        match refunded {
            // An unknown user was never charged: nothing to give back.
            Ok(_) => Ok(()),
            Err(status) if status.code() == Code::NotFound => Ok(()),
            Err(status) => Err(format!("{:?}: {}", status.code(), status.message())),
        }
    }

    /// A call carrying the deadline, sent as `grpc-timeout` too.
    fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(msg);
        request.set_timeout(self.timeout);
        request
    }
}
