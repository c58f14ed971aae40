//! The NestJS transports this crate speaks, by name. One [`crate::Client`]
//! sends over any of them; [`crate::Connections`] opens the connections a
//! process's clients share; serving on several transports at once is
//! [`crate::Listeners`].

use std::{fmt, str::FromStr};

/// A NestJS transport this crate speaks; configured by name (`amqp`,
/// `nats`, `redis`, `tcp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// RabbitMQ (`Transport.RMQ`): durable queues, manual ack, dead letters.
    Amqp,
    /// Core NATS (`Transport.NATS`): at most once, queue groups.
    Nats,
    /// Redis pub/sub (`Transport.REDIS`): at most once, every replica.
    Redis,
    /// NestJS's TCP transport (`Transport.TCP`), over mutual TLS: at most
    /// once, point to point.
    Tcp,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Self::Amqp => "amqp",
            Self::Nats => "nats",
            Self::Redis => "redis",
            Self::Tcp => "tcp",
        }
    }

    /// Checks that `tcp`, if among `transports` (read from `variable`), has
    /// the process's mutual-TLS identity (`tls`): NestJS's TCP envelope
    /// says nothing about who sends it; the certificates do.
    pub fn check_tls(
        transports: &[Self],
        variable: &str,
        tls: bool,
    ) -> Result<(), platform::env::ConfigError> {
        if transports.contains(&Self::Tcp) && !tls {
            return Err(platform::env::invalid(
                variable,
                "tcp",
                "tcp needs mutual TLS: set GRPC_TLS_CA, GRPC_TLS_CERT and GRPC_TLS_KEY",
            ));
        }
        Ok(())
    }

    /// A comma-separated list (`TRANSPORTS=amqp,nats`), without repeats.
    pub fn parse_list(list: &str) -> Result<Vec<Self>, String> {
        let mut transports = Vec::new();
        for name in list.split(',').map(str::trim) {
            let transport = name.parse()?;
            if transports.contains(&transport) {
                return Err(format!("{name} is listed twice"));
            }
            transports.push(transport);
        }
        Ok(transports)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Transport {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "amqp" => Ok(Self::Amqp),
            "nats" => Ok(Self::Nats),
            "redis" => Ok(Self::Redis),
            "tcp" => Ok(Self::Tcp),
            other => Err(format!(
                "unknown transport {other:?}; expected amqp, nats, redis or tcp"
            )),
        }
    }
}
