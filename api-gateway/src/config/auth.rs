//! Which access tokens the gateway accepts: `AUTH_*`.

use platform::env::{ConfigError, invalid};

use super::{DEFAULT_AUTH_AUDIENCE, DEFAULT_AUTH_ISSUER};

/// The issuer whose tokens are accepted. By default user-service's own,
/// with keys fetched from it over gRPC; set `AUTH_JWKS_URL` to accept an
/// external OpenID Connect provider's instead (Keycloak, Auth0, ...).
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `AUTH_ISSUER`: the `iss` a token must carry.
    pub issuer: String,
    /// `AUTH_AUDIENCE`: the `aud` a token must carry.
    pub audience: String,
    /// `AUTH_JWKS_URL`: where the external issuer publishes its keys
    /// (`None`: user-service's).
    pub jwks_url: Option<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: DEFAULT_AUTH_ISSUER.to_owned(),
            audience: DEFAULT_AUTH_AUDIENCE.to_owned(),
            jwks_url: None,
        }
    }
}

impl AuthConfig {
    /// The issuer's settings, checked: with an external issuer's
    /// `AUTH_JWKS_URL`, it and `AUTH_ISSUER` are https:// — keys fetched
    /// over plain HTTP can be swapped by anyone on the path, and an OpenID
    /// Connect issuer is an https URL (OpenID Connect Discovery §3) — unless
    /// `AUTH_ALLOW_INSECURE_HTTP=true`, for local development only.
    pub fn external(
        issuer: String,
        audience: String,
        jwks_url: Option<String>,
        allow_insecure_http: bool,
    ) -> Result<Self, ConfigError> {
        if let Some(url) = &jwks_url {
            https("AUTH_JWKS_URL", url, allow_insecure_http)?;
            https("AUTH_ISSUER", &issuer, allow_insecure_http)?;
        }
        Ok(Self {
            issuer,
            audience,
            jwks_url,
        })
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

    fn external(issuer: &str, jwks: Option<&str>, insecure: bool) -> Result<AuthConfig, String> {
        AuthConfig::external(issuer.into(), "api".into(), jwks.map(Into::into), insecure)
            .map_err(|e| e.to_string())
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
        assert!(external(DEFAULT_AUTH_ISSUER, None, false).is_ok());
    }
}
