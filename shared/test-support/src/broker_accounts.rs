//! The services' RabbitMQ accounts in a vhost of a test's own, from the
//! same definitions compose loads and `just run` imports
//! (`deploy/rabbitmq/definitions.json`, rendered by `render.sh` with the
//! development passwords of `dev.env`). Accounts are broker-wide and their
//! permissions per vhost, so parallel tests share the accounts (same
//! passwords) and each gets its own permissions and queues.

use std::{io::Write, path::PathBuf, process::Stdio};

use crate::{amqp_url, output};

/// A vhost holding the production topology's permissions, deleted (with
/// every queue and exchange in it) when dropped.
#[derive(Debug)]
pub struct Vhost {
    pub name: String,
    passwords: std::collections::BTreeMap<String, String>,
}

fn rabbitmq_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/rabbitmq")
}

impl Vhost {
    /// Creates vhost `name` with the services' accounts and permissions,
    /// and every permission in it for the account of [`amqp_url`] — the
    /// test's own, for raw publishes and inspection.
    pub fn create(name: &str) -> Self {
        let passwords = crate::dev_env(&rabbitmq_dir().join("dev.env"));
        let rendered = output(
            std::process::Command::new("sh")
                .arg(rabbitmq_dir().join("render.sh"))
                .envs(&passwords)
                .env("RABBITMQ_VHOST", name),
        );
        let mut definitions: serde_json::Value = serde_json::from_str(&rendered).unwrap();
        let tester = account_of(&amqp_url());
        definitions["permissions"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "user": tester, "vhost": name, "configure": ".*", "write": ".*", "read": ".*"
            }));
        import(&definitions.to_string());
        Self {
            name: name.to_owned(),
            passwords,
        }
    }

    /// The AMQP URL of `account` (e.g. `"api-gateway"`) in this vhost, on
    /// the broker of [`amqp_url`].
    pub fn url(&self, account: &str) -> String {
        let var = format!("{}_AMQP_PASSWORD", account.to_uppercase().replace('-', "_"));
        let password = self
            .passwords
            .get(&var)
            .unwrap_or_else(|| panic!("no {var} in dev.env"));
        self.url_as(account, password)
    }

    /// The URL of the test's own account (every permission) in this vhost.
    pub fn admin_url(&self) -> String {
        let tester = parse(&amqp_url()).authority.userinfo;
        self.url_as(&tester.username, &tester.password)
    }

    fn url_as(&self, user: &str, password: &str) -> String {
        let broker = parse(&amqp_url()).authority;
        let (host, port) = (broker.host, broker.port);
        format!("amqp://{user}:{password}@{host}:{port}/{}", self.name)
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| crate::rabbitmqctl(&["delete_vhost", &self.name]));
    }
}

fn account_of(url: &str) -> String {
    parse(url).authority.userinfo.username
}

fn parse(url: &str) -> lapin::uri::AMQPUri {
    url.parse()
        .unwrap_or_else(|e| panic!("AMQP_URL {url:?} does not parse: {e}"))
}

/// Imports definitions with `rabbitmqctl import_definitions` from stdin.
fn import(definitions: &str) {
    let configured = std::env::var("RABBITMQCTL").unwrap_or_else(|_| "rabbitmqctl".into());
    let mut words = configured.split_whitespace();
    let mut child = std::process::Command::new(words.next().unwrap_or("rabbitmqctl"))
        .args(words)
        .args(["-q", "import_definitions"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(definitions.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "rabbitmqctl import_definitions: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
