//! The operator: whoever holds the operator token (`operatorToken`,
//! `BOXTRACE_OPERATOR_TOKEN`). It reaches what no tenant may: the clients of every tenant
//! (`/admin`) and the console. A tenant's access token never counts as the operator's.

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use boxtrace::Secret;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;

/// Shortest operator token accepted at start-up: a guessable token would hand out every
/// tenant's clients.
pub const MIN_OPERATOR_TOKEN_LEN: usize = 32;

/// The configured operator token, compared in constant time.
#[derive(Debug, Clone)]
pub struct OperatorToken {
    digest: [u8; 32],
}

impl OperatorToken {
    /// Keeps only a digest of `token`: the token itself is not held in memory longer than
    /// the configuration is.
    pub fn new(token: &Secret) -> Self {
        Self {
            digest: Sha256::digest(token.expose().as_bytes()).into(),
        }
    }

    /// Whether `candidate` is the operator token. Compares digests without an early exit,
    /// so the time taken says nothing about how much of a guess was right.
    pub fn matches(&self, candidate: &str) -> bool {
        let candidate: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        self.digest
            .iter()
            .zip(candidate.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl OperatorToken {
    /// A key for `purpose` (e.g. signing console sessions), derived from the token: a
    /// new operator token makes every value signed with the old key invalid, and the key
    /// says nothing about the token.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(b"boxtrace operator key\0");
        hash.update(purpose.as_bytes());
        hash.update(b"\0");
        hash.update(self.digest);
        hash.finalize().into()
    }
}

/// A request made with `Authorization: Bearer <operator token>`.
#[derive(Debug, Clone, Copy)]
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(expected) = &state.operator else {
            return Err(ApiError::forbidden(
                "the operator API is off: start the server with BOXTRACE_OPERATOR_TOKEN (or operatorToken in the file) set",
            ));
        };
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| ApiError::unauthorized("send Authorization: Bearer <operator token>"))?;
        if expected.matches(token) {
            Ok(Operator)
        } else {
            tracing::info!("operator request refused: wrong operator token");
            Err(ApiError::unauthorized("wrong operator token"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_operator_token_matches() {
        let token = OperatorToken::new(&Secret::new("o".repeat(40)));
        assert!(token.matches(&"o".repeat(40)));
        assert!(!token.matches(&"o".repeat(39)));
        assert!(!token.matches(""));
    }
}
