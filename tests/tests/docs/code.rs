//! The variables the services read: what each service's `clap` command
//! declares (its `Config`, walked argument by argument — name, default),
//! and the few read outside it, listed here with the reason. No Rust
//! source is read as text.

use clap::CommandFactory;

pub(crate) const SERVICES: [&str; 4] = [
    "api-gateway",
    "user-service",
    "order-service",
    "notification-service",
];

/// Variables every service reads outside its `Config`, and why they are
/// not declared there.
pub(crate) const OUTSIDE_CLAP: [(&str, &str); 4] = [
    (
        "RUST_LOG",
        "tracing-subscriber's EnvFilter reads it (platform::telemetry), before the configuration",
    ),
    (
        "LOG_FORMAT",
        "platform::telemetry reads it before the configuration, so that a configuration error is logged as configured",
    ),
    (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OpenTelemetry's own variable: its exporter reads it (platform::telemetry only checks it is set)",
    ),
    (
        "OTEL_SERVICE_NAME",
        "OpenTelemetry's own variable: its resource detector reads it (platform::telemetry sets a default)",
    ),
];

/// One variable read: by which service, with which declared default.
#[derive(Debug)]
pub(crate) struct Read {
    pub(crate) crate_name: String,
    pub(crate) name: String,
    /// The declared default as `--help` shows it; `None` when there is
    /// none (or it is empty).
    pub(crate) default: Option<String>,
    pub(crate) at: String,
}

/// Each service's command, as `<service> --help` prints it.
pub(crate) fn commands() -> [(&'static str, clap::Command); 4] {
    [
        ("api-gateway", api_gateway::Config::command()),
        ("user-service", user_service::Config::command()),
        ("order-service", order_service::Config::command()),
        (
            "notification-service",
            notification_service::Config::command(),
        ),
    ]
}

/// Every variable every service reads: the arguments of its command that
/// have an environment variable, and [`OUTSIDE_CLAP`].
pub(crate) fn reads() -> Vec<Read> {
    let mut found = Vec::new();
    for (service, command) in commands() {
        for arg in command.get_arguments() {
            let Some(env) = arg.get_env() else {
                continue;
            };
            let defaults: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            let default = Some(defaults.join(",")).filter(|d| !d.is_empty());
            found.push(Read {
                crate_name: service.to_owned(),
                name: env.to_string_lossy().into_owned(),
                default,
                at: format!("`{service} --help`"),
            });
        }
        for (name, _why) in OUTSIDE_CLAP {
            found.push(Read {
                crate_name: service.to_owned(),
                name: name.to_owned(),
                default: None,
                at: format!("{service} (outside clap)"),
            });
        }
    }
    found
}

/// A declared default and a documented one are the same: the same text,
/// or the same duration (`2s` and `2000ms`), or the same number.
pub(crate) fn same(declared: &str, documented: &str) -> bool {
    declared == documented
        || millis(declared).is_some_and(|ms| millis(documented) == Some(ms))
        || declared
            .parse::<u64>()
            .is_ok_and(|n| documented.parse() == Ok(n))
}

/// `250ms`, `3s`, `1m 30s`, `15m`, `1h`.
pub(crate) fn millis(text: &str) -> Option<u64> {
    let mut total = 0;
    for part in text.split_whitespace() {
        let digits = part.find(|c: char| !c.is_ascii_digit())?;
        let n: u64 = part[..digits].parse().ok()?;
        total += n * match &part[digits..] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return None,
        };
    }
    Some(total)
}

pub(crate) fn is_variable_name(name: &str) -> bool {
    name.len() > 1
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Every variable's help is written (clap shows it in `--help`), and no
/// secret's value would be printed there.
#[test]
fn every_variable_has_help_and_secrets_hide_their_values() {
    let mut problems = Vec::new();
    for (service, command) in commands() {
        command.clone().debug_assert();
        for arg in command.get_arguments() {
            let Some(env) = arg.get_env() else {
                continue;
            };
            let env = env.to_string_lossy();
            if arg.get_help().is_none() {
                problems.push(format!("{service}: {env} has no help (a doc comment)"));
            }
            let secret = ["_URL", "_KEY", "_PASSWORD", "GRPC_TLS_CA", "GRPC_TLS_CERT"]
                .iter()
                .any(|end| env.ends_with(end))
                && !env.starts_with("AUTH_")
                && !env.starts_with("USER_SERVICE_");
            if secret && !arg.is_hide_env_values_set() {
                problems.push(format!(
                    "{service}: {env} may hold a secret: declare it with hide_env_values = true"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
