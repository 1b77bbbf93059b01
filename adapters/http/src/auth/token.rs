//! Access tokens: short-lived HS256 JWTs bound to one client and its tenant.

use std::time::Duration;

use boxtrace::{Secret, Tenant};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

const ISSUER: &str = "boxtrace";

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The client id.
    pub sub: String,
    /// The tenant's organization.
    pub org: String,
    /// The tenant's service.
    pub svc: String,
    /// Issuer, `boxtrace`.
    pub iss: String,
    /// Issued at (seconds).
    pub iat: i64,
    /// Expires at (seconds).
    pub exp: i64,
}

impl Claims {
    /// The tenant the token acts for.
    pub fn tenant(&self) -> Tenant {
        Tenant::new(&self.org, &self.svc)
    }
}

/// Why a token was refused. The message never repeats the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Past its expiry: get a new one.
    #[error("the access token has expired; request a new one at /oauth/token")]
    Expired,
    /// Not a token this server issued (bad signature, malformed, wrong issuer).
    #[error("the access token is not valid")]
    Invalid,
}

/// Issues and verifies tokens with one key.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl: Duration,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// Tokens signed with `key`, valid for `ttl`.
    pub fn new(key: &Secret, ttl: Duration) -> Self {
        Self {
            encoding: EncodingKey::from_secret(key.expose().as_bytes()),
            decoding: DecodingKey::from_secret(key.expose().as_bytes()),
            ttl,
        }
    }

    /// The lifetime of a token, in seconds.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl.as_secs()
    }

    /// A token for `client_id` acting for `tenant`, issued `now`.
    pub fn issue(
        &self,
        client_id: &str,
        tenant: &Tenant,
        now: DateTime<Utc>,
    ) -> Result<String, TokenError> {
        let claims = Claims {
            sub: client_id.to_owned(),
            org: tenant.org_id.clone(),
            svc: tenant.svc_id.clone(),
            iss: ISSUER.to_owned(),
            iat: now.timestamp(),
            exp: now.timestamp() + i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| TokenError::Invalid)
    }

    /// The claims of a valid token.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_forgeries() {
        let key = Secret::new("k".repeat(32));
        let tokens = Tokens::new(&key, Duration::from_secs(60));
        let tenant = Tenant::new("o", "s");
        let token = tokens.issue("btc_1", &tenant, Utc::now()).unwrap();
        assert_eq!(tokens.verify(&token).unwrap().tenant(), tenant);
        let other = Tokens::new(&Secret::new("x".repeat(32)), Duration::from_secs(60));
        assert_eq!(other.verify(&token), Err(TokenError::Invalid), "wrong key");
        let old = tokens
            .issue("btc_1", &tenant, Utc::now() - chrono::Duration::hours(1))
            .unwrap();
        assert_eq!(tokens.verify(&old), Err(TokenError::Expired));
        assert_eq!(tokens.verify("not.a.token"), Err(TokenError::Invalid));
    }
}
