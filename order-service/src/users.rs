//! The users order-service knows of: it asks user-service over gRPC, through
//! one lazily connected channel with a deadline on every call.

use std::time::Duration;

use contracts::user::{UserById, user_service_client::UserServiceClient};
use platform::propagation::{TracedChannel, traced};
use tonic::Code;
use uuid::Uuid;

use crate::{Config, error::Error};

#[derive(Debug, Clone)]
pub struct UserDirectory {
    client: UserServiceClient<TracedChannel>,
    timeout: Duration,
}

impl UserDirectory {
    pub fn connect_lazy(config: &Config) -> anyhow::Result<Self> {
        let channel = tonic::transport::Endpoint::from_shared(config.user_service_url.clone())?
            .connect_timeout(Duration::from_secs(1))
            .tcp_nodelay(true)
            .connect_lazy();
        Ok(Self {
            // Every call carries the current trace context in its metadata.
            client: UserServiceClient::new(traced(channel)),
            timeout: config.user_service_timeout,
        })
    }

    /// Succeeds when the user exists. user-service being down is transient
    /// (the message is retried); an unknown user is a business answer.
    pub async fn ensure_exists(&self, id: Uuid) -> Result<(), Error> {
        let mut request = tonic::Request::new(UserById { id: id.to_string() });
        request.set_timeout(self.timeout);
        match self.client.clone().find_one(request).await {
            Ok(_) => Ok(()),
            Err(status) if status.code() == Code::NotFound => Err(Error::UnknownUser(id)),
            Err(status) if status.code() == Code::InvalidArgument => {
                Err(Error::Invalid(status.message().to_owned()))
            }
            Err(status) => Err(Error::UserServiceUnavailable(format!(
                "{:?}: {}",
                status.code(),
                status.message()
            ))),
        }
    }
}
