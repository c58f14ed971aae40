//! Configuration declared once: each service's `Config` is a `clap` parser
//! whose every field names its environment variable, its default, its
//! parser and its help (the field's doc comment), so `<service> --help`
//! lists them all and the docs are checked against the same declaration
//! (tests/tests/docs). What several services read is declared here once, as
//! groups a service flattens (`#[command(flatten)]`): the brokers' URLs
//! ([`AmqpUrl`], [`NatsUrl`], [`RedisUrl`]), the database (`db::DbConfig`),
//! the mutual-TLS identity (`tls::TlsConfig`).
//!
//! Parsing is clap's; what clap cannot say is one step after it,
//! [`Resolve::resolve`]: a secret's `<NAME>_FILE` read when `<NAME>` is
//! unset, a server's `<PREFIX>_PASSWORD_FILE` put into its URL, and checks
//! across fields (`TRANSPORTS=tcp` needs TLS, `https://` URLs with TLS),
//! each failing with one line naming the variable.
//!
//! # Layout
//! - [`from_env`], [`parse_from`]: the command line and the environment.
//! - [`defaults`]: the declared defaults alone, for `Config::new` in tests.
//! - [`servers`]: the brokers' URL groups.

use std::{ffi::OsString, path::Path};

use clap::{ArgMatches, Command, CommandFactory, FromArgMatches, parser::ValueSource};
use secrecy::SecretString;

use crate::env::{ConfigError, read_secret_file};

mod servers;

pub use servers::{AmqpUrl, NatsUrl, RedisUrl};

/// A duration variable's `value_parser` (`250ms`, `3s`): the one parser
/// `platform::env` also reads bench's with.
pub use crate::env::duration;

/// The step after parsing: files read, URLs completed, fields checked
/// against each other. `matches` says which values were defaults.
pub trait Resolve {
    fn resolve(&mut self, matches: &ArgMatches) -> Result<(), ConfigError>;
}

/// The process's configuration from its command line and environment.
/// `--help`, `--version` and a value clap cannot parse end the process as
/// clap does (the message names the variable: every value is shown as its
/// variable's name, `--orders-prefetch <ORDERS_PREFETCH>`); an error of the
/// step after parsing is returned.
pub fn from_env<C: CommandFactory + FromArgMatches + Resolve>() -> Result<C, ConfigError> {
    parse_from(std::env::args_os())
}

/// The same from `args` (the program's name first) and the environment.
pub fn parse_from<C, I, T>(args: I) -> Result<C, ConfigError>
where
    C: CommandFactory + FromArgMatches + Resolve,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let command = C::command().mut_args(|arg| {
        let arg = named_after_its_variable(arg);
        // An empty variable is an unset one, as it always was here (and
        // compose passes `X=` for "not set"): its default applies.
        let blank = arg
            .get_env()
            .and_then(std::env::var_os)
            .is_some_and(|value| value.to_string_lossy().trim().is_empty());
        if blank { arg.env(None) } else { arg }
    });
    match resolved(command, args) {
        Ok(config) => Ok(config),
        Err(Failure::Clap(e)) => e.exit(),
        Err(Failure::Config(e)) => Err(e),
    }
}

/// The declared defaults, nothing read from the environment or the command
/// line: what `Config::new` starts from, so a test process with
/// `DATABASE_URL` exported gets the same embedded service as any other.
/// Panics if the defaults do not resolve — a declaration bug every test
/// would show.
pub fn defaults<C: CommandFactory + FromArgMatches + Resolve>() -> C {
    without_env(C::command(), std::iter::empty::<&str>())
}

/// The defaults of a group (`C: clap::Args`) alone, with `args` given (a
/// group without a default for some field needs it, e.g. `--database-url`).
pub fn group_defaults<C: clap::Args + FromArgMatches + Resolve>(args: &[&str]) -> C {
    without_env(C::augment_args(Command::new("defaults")), args.iter())
}

fn without_env<C, T>(command: Command, args: impl Iterator<Item = T>) -> C
where
    C: FromArgMatches + Resolve,
    T: Into<OsString> + Clone,
{
    let name = command.get_name().to_owned();
    let command = command.mut_args(|arg| arg.env(None));
    let args = std::iter::once(OsString::from(name)).chain(args.map(Into::into));
    match resolved(command, args) {
        Ok(config) => config,
        Err(Failure::Clap(e)) => panic!("the declared defaults do not parse: {e}"),
        Err(Failure::Config(e)) => panic!("the declared defaults do not resolve: {e}"),
    }
}

enum Failure {
    Clap(clap::Error),
    Config(ConfigError),
}

fn resolved<C, I, T>(command: Command, args: I) -> Result<C, Failure>
where
    C: FromArgMatches + Resolve,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let matches = command.try_get_matches_from(args).map_err(Failure::Clap)?;
    let mut config = C::from_arg_matches(&matches).map_err(Failure::Clap)?;
    config.resolve(&matches).map_err(Failure::Config)?;
    Ok(config)
}

/// Shows an argument's value as its variable's name: clap's messages then
/// name the variable (`invalid value 'soon' for '--user-service-timeout
/// <USER_SERVICE_TIMEOUT>'`), and `--help` reads like the docs.
fn named_after_its_variable(arg: clap::Arg) -> clap::Arg {
    match arg.get_env().map(|env| env.to_string_lossy().into_owned()) {
        Some(env) => arg.value_name(env),
        None => arg,
    }
}

/// Whether the argument `id` took its declared default (neither the
/// command line nor the environment set it).
pub fn defaulted(matches: &ArgMatches, id: &str) -> bool {
    matches!(
        matches.value_source(id),
        None | Some(ValueSource::DefaultValue)
    )
}

/// A secret value: held in a type that never prints it.
pub fn secret(value: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(value.trim().to_owned().into())
}

/// A comma list's item, trimmed (`amqp, nats`).
pub fn trimmed(value: &str) -> Result<String, std::convert::Infallible> {
    Ok(value.trim().to_owned())
}

/// A secret from its variable, or else from the file its `_FILE` variable
/// (`file_var`) names — how Docker and Kubernetes mount secrets — without
/// the line ending that ends the file.
pub fn secret_or_file(
    value: Option<SecretString>,
    file_var: &str,
    file: Option<&Path>,
) -> Result<Option<SecretString>, ConfigError> {
    match (value, file) {
        (Some(value), _) => Ok(Some(value)),
        (None, Some(path)) => Ok(Some(read_path(file_var, path)?.into())),
        (None, None) => Ok(None),
    }
}

fn read_path(file_var: &str, path: &Path) -> Result<String, ConfigError> {
    read_secret_file(file_var, &path.to_string_lossy())
}

/// A server's URL (`name`, e.g. `AMQP_URL`, argument `id`) as
/// [`crate::env::with_password`] completes it: the file `{name}_FILE` names
/// replaces the declared default when the variable is unset; the password
/// in the file `{prefix}_PASSWORD_FILE` names is put in; the scheme is
/// checked against `schemes`. The error never shows the URL.
pub fn resolve_url(
    url: &mut SecretString,
    (name, id): (&str, &str),
    matches: &ArgMatches,
    (url_file, password_file): (Option<&Path>, Option<&Path>),
    schemes: [&str; 2],
) -> Result<(), ConfigError> {
    use secrecy::ExposeSecret;
    if let (true, Some(path)) = (defaulted(matches, id), url_file) {
        *url = read_path(&format!("{name}_FILE"), path)?.into();
    }
    let password_var = format!(
        "{}_PASSWORD_FILE",
        name.strip_suffix("_URL").unwrap_or(name)
    );
    let password = match password_file {
        Some(path) => Some(read_path(&password_var, path)?.into()),
        None => None,
    };
    *url = crate::env::with_password(name, url.expose_secret(), &password_var, password, schemes)?;
    Ok(())
}

/// Whether the command line names `command` (`healthcheck`) first, and the
/// command line without it, for [`parse_from`]: the commands a binary runs
/// beside serving take the same configuration.
pub fn command(command: &str) -> (bool, Vec<OsString>) {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let named = args.get(1).is_some_and(|arg| arg == command);
    if named {
        args.remove(1);
    }
    (named, args)
}
