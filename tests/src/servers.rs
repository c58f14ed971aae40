//! Stopping and starting the machine's shared RabbitMQ and Postgres, for the
//! serial restart tests (`tests/tests/restarts.rs`). Every system on the
//! machine feels these, so nothing else may run beside them.
//!
//! An [`Outage`] starts its server again when dropped: a failing test still
//! leaves the servers running. `RABBITMQCTL`, `POSTGRES_STOP` and
//! `POSTGRES_START` reach servers that are not local Debian packages
//! (docs/testing.md).

use std::{
    net::{SocketAddr, TcpStream},
    process::Command,
    str::FromStr,
    time::{Duration, Instant},
};

use test_support::{output, rabbitmqctl};

use crate::postgres_url;

/// How long a server may take to accept connections again once started.
const START_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// `rabbitmqctl stop_app` / `start_app`: the broker's node stays up, the
    /// broker inside it stops — every connection closed, every port refused.
    RabbitMq,
    /// `pg_ctlcluster <version> <cluster> stop` / `start` on the cluster
    /// listening on the test server's port (fast shutdown: every session
    /// terminated); `POSTGRES_STOP` / `POSTGRES_START` replace them with
    /// shell commands, e.g. `docker compose stop postgres`.
    Postgres,
}

/// A server that is down until [`Outage::end`], or the drop.
#[derive(Debug)]
#[must_use = "the server stays down until the outage ends"]
pub struct Outage {
    server: Server,
    over: bool,
}

impl Server {
    /// Stops the server (returns once it is down).
    pub async fn stop(self) -> Outage {
        tokio::task::spawn_blocking(move || self.control("stop"))
            .await
            .unwrap();
        Outage {
            server: self,
            over: false,
        }
    }

    fn control(self, action: &str) {
        match self {
            Self::RabbitMq => {
                rabbitmqctl(&[&format!("{action}_app")]);
            }
            Self::Postgres => {
                let configured = format!("POSTGRES_{}", action.to_uppercase());
                if let Ok(command) = std::env::var(&configured) {
                    output(Command::new("sh").args(["-c", &command]));
                    return;
                }
                let (version, cluster) = postgres_cluster();
                output(Command::new("pg_ctlcluster").args([
                    // Straight to pg_ctl, also where systemd runs the cluster.
                    "--skip-systemctl-redirect",
                    &version,
                    &cluster,
                    action,
                ]));
            }
        }
    }

    fn address(self) -> SocketAddr {
        let port = match self {
            Self::RabbitMq => rabbitmq_port(),
            Self::Postgres => postgres_port(),
        };
        SocketAddr::from(([127, 0, 0, 1], port))
    }
}

impl Outage {
    /// Starts the server again; returns once it accepts connections.
    pub async fn end(mut self) {
        tokio::task::spawn_blocking(move || self.start())
            .await
            .unwrap();
    }

    fn start(&mut self) {
        if self.over {
            return;
        }
        self.over = true;
        self.server.control("start");
        let address = self.server.address();
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{:?} does not accept connections on {address} {START_TIMEOUT:?} after its start",
                self.server
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        self.start();
    }
}

/// The port of the test Postgres server (`DATABASE_URL`), as sqlx reads it.
fn postgres_port() -> u16 {
    sqlx::postgres::PgConnectOptions::from_str(&postgres_url())
        .unwrap()
        .get_port()
}

/// The port of the test broker (`AMQP_URL`), as lapin reads it.
fn rabbitmq_port() -> u16 {
    lapin::uri::AMQPUri::from_str(&test_support::amqp_url())
        .unwrap()
        .authority
        .port
}

/// The version and name of the Debian-managed cluster on the test port,
/// from `pg_lsclusters` (postgresql-common).
fn postgres_cluster() -> (String, String) {
    let port = postgres_port().to_string();
    let listed = output(Command::new("pg_lsclusters").arg("-h"));
    // version cluster port status owner data-directory log-file
    listed
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|fields| fields.get(2) == Some(&port.as_str()))
        .map(|fields| (fields[0].to_owned(), fields[1].to_owned()))
        .unwrap_or_else(|| panic!("no Postgres cluster on port {port} in pg_lsclusters:\n{listed}"))
}
