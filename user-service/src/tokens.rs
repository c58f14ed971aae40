//! Access tokens: JWTs (RFC 7519) signed with an Ed25519 key (EdDSA, RFC
//! 8037) that only user-service holds, and the JWK Set (RFC 7517) anyone can
//! verify them with.
//!
//! Claims: `sub` (the user id), `role`, `iss`, `aud`, `iat`, `exp`, `jti`;
//! header `kid`, the key's RFC 7638 thumbprint — derived from the key, so it
//! needs no configuration and two keys can never share one. Rotation: start
//! signing with a new key and keep the old one published
//! (`JWT_PREVIOUS_KEY_FILE`) until the last token it signed has expired.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use contracts::{identity::Role, user as pb};
use ed25519_dalek::{
    SigningKey,
    pkcs8::{DecodePrivateKey, EncodePrivateKey, KeypairBytes, spki::der::pem::LineEnding},
};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header,
    jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash},
};
use serde::Serialize;
use uuid::Uuid;

use crate::{config::TokenConfig, error::Error};

/// Signs access tokens and publishes the keys that verify them.
#[derive(Clone)]
pub struct Signer {
    key: EncodingKey,
    kid: String,
    jwks: String,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize)]
struct Claims<'a> {
    sub: String,
    role: &'a str,
    iss: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
    jti: String,
}

impl Signer {
    /// From the configured key, or a new development key (logged as such)
    /// when none is configured.
    pub fn from_config(config: &TokenConfig) -> anyhow::Result<Self> {
        use secrecy::ExposeSecret;
        let generated;
        let pem = match &config.signing_key {
            Some(pem) => pem.expose_secret(),
            None => {
                generated = generate_pem();
                tracing::warn!(
                    "no JWT_SIGNING_KEY_FILE or JWT_SIGNING_KEY: signing tokens with a development key \
                     generated now; tokens die with this process and replicas will not accept each \
                     other's (generate one with `user-service generate-signing-key`)"
                );
                &generated
            }
        };
        let key = encoding_key(pem)
            .context("JWT signing key: expected an Ed25519 private key in PKCS#8 PEM")?;
        let current = published(Jwk::from_encoding_key(&key, Algorithm::EdDSA)?)?;
        let kid = current.common.key_id.clone().unwrap_or_default();
        let mut keys = vec![current];
        if let Some(pem) = &config.previous_key {
            keys.push(published(previous_jwk(pem.expose_secret())?)?);
        }
        Ok(Self {
            key,
            kid,
            jwks: serde_json::to_string(&JwkSet { keys })?,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl: config.ttl,
        })
    }

    /// A signed token for `user` with `role`, valid for the configured TTL.
    pub fn issue(&self, user: Uuid, role: Role) -> Result<pb::AccessToken, Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = Claims {
            sub: user.to_string(),
            role: role.as_str(),
            iss: &self.issuer,
            aud: &self.audience,
            iat: now,
            exp: now + self.ttl.as_secs(),
            jti: Uuid::new_v4().to_string(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".into());
        let access_token =
            jsonwebtoken::encode(&header, &claims, &self.key).map_err(|_| Error::Signing)?;
        Ok(pb::AccessToken {
            access_token,
            expires_in: self.ttl.as_secs(),
        })
    }

    /// The JWK Set document: the current key, and the previous one if any.
    pub fn jwks_json(&self) -> &str {
        &self.jwks
    }

    /// The key id tokens are signed with now.
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

/// A new Ed25519 private key as PKCS#8 PEM (`user-service
/// generate-signing-key`, and the development key).
pub fn generate_pem() -> String {
    let key = SigningKey::generate(&mut rand_core::OsRng);
    key.to_pkcs8_pem(LineEnding::LF)
        .expect("a fresh key encodes")
        .to_string()
}

/// The previous key may be given as its private key (the old key file, kept)
/// or as its public key (`-----BEGIN PUBLIC KEY-----`): only the public part
/// is published either way.
fn previous_jwk(pem: &str) -> anyhow::Result<Jwk> {
    if let Ok(key) = encoding_key(pem) {
        return Ok(Jwk::from_encoding_key(&key, Algorithm::EdDSA)?);
    }
    let key = DecodingKey::from_ed_pem(pem.as_bytes())
        .context("JWT_PREVIOUS_KEY_FILE: expected an Ed25519 key in PEM")?;
    Ok(Jwk::from_decoding_key(&key, Some(Algorithm::EdDSA))?)
}

/// The signing key of a PKCS#8 PEM, v1 (OpenSSL's `genpkey -algorithm ed25519`) or
/// v2 (with the public key inside), in the v1 form jsonwebtoken reads.
pub fn encoding_key(pem: &str) -> anyhow::Result<EncodingKey> {
    let key = SigningKey::from_pkcs8_pem(pem.trim())?;
    let v1 = KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    }
    .to_pkcs8_der()?;
    Ok(EncodingKey::from_ed_der(v1.as_bytes()))
}

/// A JWK as published: for signatures, with its thumbprint as `kid`.
fn published(mut jwk: Jwk) -> anyhow::Result<Jwk> {
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk.common.key_id = Some(jwk.thumbprint(ThumbprintHash::SHA256)?);
    Ok(jwk)
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Validation, decode, decode_header};
    use secrecy::SecretString;

    use super::*;

    fn config(signing: &str, previous: Option<&str>) -> TokenConfig {
        TokenConfig {
            signing_key: Some(SecretString::from(signing.to_owned())),
            previous_key: previous.map(|p| SecretString::from(p.to_owned())),
            ..TokenConfig::default()
        }
    }

    #[test]
    fn a_token_verifies_with_the_published_key_of_its_kid() {
        let signer = Signer::from_config(&config(&generate_pem(), None)).unwrap();
        let user = Uuid::now_v7();
        let token = signer.issue(user, Role::Admin).unwrap().access_token;

        let jwks: JwkSet = serde_json::from_str(signer.jwks_json()).unwrap();
        let kid = decode_header(&token).unwrap().kid.unwrap();
        let key = DecodingKey::from_jwk(jwks.find(&kid).unwrap()).unwrap();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[TokenConfig::default().audience]);
        validation.set_issuer(&[TokenConfig::default().issuer]);
        let claims = decode::<serde_json::Value>(&token, &key, &validation)
            .unwrap()
            .claims;
        assert_eq!(claims["sub"], user.to_string());
        assert_eq!(claims["role"], "admin");
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            15 * 60
        );
        assert!(claims["jti"].is_string());
    }

    #[test]
    fn rotation_publishes_both_keys_and_signs_with_the_new_one() {
        let old = generate_pem();
        let before = Signer::from_config(&config(&old, None)).unwrap();
        let after = Signer::from_config(&config(&generate_pem(), Some(&old))).unwrap();
        let jwks: JwkSet = serde_json::from_str(after.jwks_json()).unwrap();
        assert_eq!(jwks.keys.len(), 2);
        assert!(jwks.find(before.kid()).is_some(), "the old kid stays valid");
        assert_ne!(before.kid(), after.kid());
        assert!(!after.jwks_json().contains("\"d\""), "no private part");
    }
}
