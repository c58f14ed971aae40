//! Which access tokens the gateway accepts: `AUTH_*`.

use clap::{ArgAction, ArgMatches};
use contracts::identity::{TOKEN_AUDIENCE, TOKEN_ISSUER};
use platform::{
    config::Resolve,
    env::{ConfigError, invalid},
};

/// The issuer whose tokens are accepted. By default user-service's own,
/// with keys fetched from it over gRPC; set `AUTH_JWKS_URL` to accept an
/// external OpenID Connect provider's instead (Keycloak, Auth0, ...).
#[derive(Debug, Clone, clap::Args)]
pub struct AuthConfig {
    /// The `iss` an access token must carry: user-service's TOKEN_ISSUER,
    /// or an external provider's (`https://`).
    #[arg(long = "auth-issuer", env = "AUTH_ISSUER", default_value = TOKEN_ISSUER)]
    pub issuer: String,
    /// The `aud` an access token must carry.
    #[arg(long = "auth-audience", env = "AUTH_AUDIENCE", default_value = TOKEN_AUDIENCE)]
    pub audience: String,
    /// An external OpenID Connect provider's `jwks_uri`, `https://`; unset:
    /// the keys come from user-service over gRPC.
    #[arg(long = "auth-jwks-url", env = "AUTH_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// `true` lets AUTH_JWKS_URL and AUTH_ISSUER be `http://`: for a
    /// provider on your own machine in development only.
    #[arg(long = "auth-allow-insecure-http", env = "AUTH_ALLOW_INSECURE_HTTP", default_value_t = false, action = ArgAction::Set)]
    allow_insecure_http: bool,
}

impl Default for AuthConfig {
    /// The declared defaults, nothing read from the environment.
    fn default() -> Self {
        platform::config::group_defaults(&[])
    }
}

impl Resolve for AuthConfig {
    /// With an external issuer's `AUTH_JWKS_URL`, it and `AUTH_ISSUER` are
    /// https:// — keys fetched over plain HTTP can be swapped by anyone on
    /// the path, and an OpenID Connect issuer is an https URL (OpenID
    /// Connect Discovery §3) — unless `AUTH_ALLOW_INSECURE_HTTP=true`, for
    /// local development only.
    fn resolve(&mut self, _: &ArgMatches) -> Result<(), ConfigError> {
        if let Some(url) = &self.jwks_url {
            https("AUTH_JWKS_URL", url, self.allow_insecure_http)?;
            https("AUTH_ISSUER", &self.issuer, self.allow_insecure_http)?;
        }
        Ok(())
    }
}

fn https(name: &str, url: &str, allow_insecure_http: bool) -> Result<(), ConfigError> {
    match url.split_once("://").map(|(scheme, _)| scheme) {
        Some("https") => Ok(()),
        Some("http") if allow_insecure_http => Ok(()),
        Some("http") => Err(invalid(
            name,
            url,
            "must be https:// (AUTH_ALLOW_INSECURE_HTTP=true allows http:// in local development)",
        )),
        _ => Err(invalid(name, url, "expected an https:// URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn external(issuer: &str, jwks: Option<&str>, insecure: bool) -> Result<(), String> {
        let mut config = AuthConfig {
            issuer: issuer.into(),
            jwks_url: jwks.map(Into::into),
            allow_insecure_http: insecure,
            ..AuthConfig::default()
        };
        let matches = ArgMatches::default();
        config.resolve(&matches).map_err(|e| e.to_string())
    }

    #[test]
    fn an_external_issuer_is_https_unless_insecure_http_is_allowed() {
        let jwks = "https://idp.example.com/certs";
        assert!(external("https://idp.example.com", Some(jwks), false).is_ok());
        let error =
            external("https://idp.example.com", Some("http://idp/certs"), false).unwrap_err();
        assert!(
            error.contains("AUTH_JWKS_URL") && error.contains("https"),
            "{error}"
        );
        let error = external("http://idp.example.com", Some(jwks), false).unwrap_err();
        assert!(error.contains("AUTH_ISSUER"), "{error}");
        assert!(
            external(
                "http://localhost:8080",
                Some("http://localhost/certs"),
                true
            )
            .is_ok()
        );
        assert!(external("https://idp", Some("ftp://idp/certs"), true).is_err());
    }

    #[test]
    fn user_services_own_tokens_need_no_url() {
        assert!(external(TOKEN_ISSUER, None, false).is_ok());
    }
}
