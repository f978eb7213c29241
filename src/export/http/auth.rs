//! HTTP basic auth against `basic_auth_users` (bcrypt hashes), as
//! exporter-toolkit does it.
//!
//! bcrypt is slow on purpose (tens of milliseconds at cost 10), and
//! Prometheus sends the same credentials on every scrape, so each distinct
//! (user, stored hash, password) is verified once and the verdict cached,
//! keyed by a SHA-256 of the three so no password is kept in memory. The
//! cache is bounded ([`CACHE_CAPACITY`]): when full, an arbitrary entry
//! makes room, so a flood of wrong passwords cannot grow it, and at worst
//! costs another bcrypt. Verifications run one at a time off the async
//! threads, so that flood cannot take every core either. An unknown user is
//! checked against a fixed hash, so timing does not tell which users exist.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::HeaderValue;
use base64::Engine as _;

/// Verdicts kept; well above the number of scrapers of one exporter.
pub(crate) const CACHE_CAPACITY: usize = 256;

/// bcrypt (cost 10) of a password nobody has, checked for unknown users so
/// they take as long as known ones.
const UNKNOWN_USER_HASH: &str = "$2y$10$HkPsCYd9DZSjfvzt17Otf.MVSjdWqN99SZWvVtqzy.q3zu3REYvxS";

type CacheKey = [u8; 32];

/// The users allowed in and the verdicts so far.
#[derive(Debug)]
pub struct BasicAuth {
    users: HashMap<String, String>,
    verdicts: Mutex<HashMap<CacheKey, bool>>,
    bcrypt_turn: tokio::sync::Mutex<()>,
}

impl BasicAuth {
    /// Users and their bcrypt hashes (checked by [`BasicAuth::is_bcrypt_hash`]).
    pub fn new(users: Vec<(String, String)>) -> BasicAuth {
        BasicAuth {
            users: users.into_iter().collect(),
            verdicts: Mutex::new(HashMap::new()),
            bcrypt_turn: tokio::sync::Mutex::new(()),
        }
    }

    /// How many users there are.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are no users (then nobody gets in).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Whether `hash` has the shape of a bcrypt hash that can be verified
    /// (`$2y$`, `$2b$`, `$2a$` or `$2x$`, a cost of 4 to 31, salt and digest).
    pub(crate) fn is_bcrypt_hash(hash: &str) -> bool {
        hash.len() == 60
            && hash
                .parse::<bcrypt::HashParts>()
                .is_ok_and(|parts| (4..=31).contains(&parts.get_cost()))
    }

    /// Whether the `Authorization` header carries the credentials of a user.
    pub(crate) async fn is_authorized(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return false;
        };
        let known = self.users.get(&user);
        let hash = known.map_or(UNKNOWN_USER_HASH, String::as_str);
        let key = cache_key(&user, hash, &password);
        if let Some(verdict) = self.cached(&key) {
            return verdict;
        }
        let _turn = self.bcrypt_turn.lock().await;
        // Others waiting for their turn with the same credentials find the
        // verdict the first one left.
        if let Some(verdict) = self.cached(&key) {
            return verdict;
        }
        let hash = hash.to_string();
        let matches =
            tokio::task::spawn_blocking(move || bcrypt::verify(&password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        let verdict = matches && known.is_some();
        self.remember(key, verdict);
        verdict
    }

    fn cached(&self, key: &CacheKey) -> Option<bool> {
        self.verdicts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .copied()
    }

    fn remember(&self, key: CacheKey, verdict: bool) {
        let mut verdicts = self
            .verdicts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if verdicts.len() >= CACHE_CAPACITY
            && let Some(evicted) = verdicts.keys().next().copied()
        {
            verdicts.remove(&evicted);
        }
        verdicts.insert(key, verdict);
    }

    #[cfg(test)]
    fn cache_len(&self) -> usize {
        self.verdicts.lock().map(|v| v.len()).unwrap_or_default()
    }
}

/// `Basic base64(user:password)`, as Go's `Request.BasicAuth` reads it: the
/// scheme in any case, the user up to the first colon.
fn parse_basic(header: &HeaderValue) -> Option<(String, Vec<u8>)> {
    let value = header.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

/// Lengths go first so that no two different triples hash the same input.
fn cache_key(user: &str, hash: &str, password: &[u8]) -> CacheKey {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [user.as_bytes(), hash.as_bytes(), password] {
        context.update(&(part.len() as u64).to_be_bytes());
        context.update(part);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(context.finish().as_ref());
    key
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    // `htpasswd -nbBC 4 alice 'correct horse'`, `htpasswd -nbBC 4 bob 'battery staple'`.
    const ALICE: &str = "$2y$04$sRiD5rft4Ve6uuYHxrrsQe44ymT0VwJZl643LO0W.aq6Ok19tbbEG";
    const BOB: &str = "$2y$04$TiRyVErXZMlpJxqM8aUlRuFxRLzjDEQ3LMW2ZRJVCNLZevTIQp952";

    fn auth() -> BasicAuth {
        BasicAuth::new(vec![
            ("alice".to_string(), ALICE.to_string()),
            ("bob".to_string(), BOB.to_string()),
        ])
    }

    fn basic(credentials: &str) -> HeaderValue {
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
    }

    #[tokio::test]
    async fn the_right_password_lets_in_and_anything_else_does_not() {
        let auth = auth();
        assert!(
            auth.is_authorized(Some(&basic("alice:correct horse")))
                .await
        );
        assert!(auth.is_authorized(Some(&basic("bob:battery staple"))).await);
        assert!(
            !auth
                .is_authorized(Some(&basic("alice:battery staple")))
                .await
        );
        assert!(!auth.is_authorized(Some(&basic("alice:"))).await);
        assert!(
            !auth
                .is_authorized(Some(&basic("carol:correct horse")))
                .await
        );
        assert!(!auth.is_authorized(Some(&basic("alice"))).await);
        assert!(!auth.is_authorized(None).await);
        let bearer = HeaderValue::from_static("Bearer abc");
        assert!(!auth.is_authorized(Some(&bearer)).await);
    }

    #[tokio::test]
    async fn the_scheme_is_case_insensitive_and_passwords_may_hold_colons() {
        let auth = BasicAuth::new(vec![(
            "alice".to_string(),
            bcrypt::hash("a:b:c", 4).unwrap(),
        )]);
        let encoded = base64::engine::general_purpose::STANDARD.encode("alice:a:b:c");
        let header = HeaderValue::from_str(&format!("bAsIc {encoded}")).unwrap();
        assert!(auth.is_authorized(Some(&header)).await);
    }

    #[tokio::test]
    async fn each_distinct_credential_is_verified_once() {
        let auth = auth();
        for _ in 0..3 {
            assert!(
                auth.is_authorized(Some(&basic("alice:correct horse")))
                    .await
            );
            assert!(!auth.is_authorized(Some(&basic("alice:wrong"))).await);
        }
        assert_eq!(auth.cache_len(), 2);
    }

    #[tokio::test]
    async fn the_cache_stays_bounded() {
        let auth = auth();
        for i in 0..CACHE_CAPACITY + 20 {
            let _ = auth
                .is_authorized(Some(&basic(&format!("alice:wrong {i}"))))
                .await;
        }
        assert_eq!(auth.cache_len(), CACHE_CAPACITY);
        assert!(
            auth.is_authorized(Some(&basic("alice:correct horse")))
                .await
        );
    }

    #[test]
    fn cache_keys_separate_the_parts() {
        assert_ne!(cache_key("ab", "c", b""), cache_key("a", "bc", b""));
        assert_ne!(cache_key("a", ALICE, b"x"), cache_key("a", BOB, b"x"));
    }

    #[test]
    fn bcrypt_hashes_are_recognised() {
        assert!(BasicAuth::is_bcrypt_hash(ALICE));
        assert!(BasicAuth::is_bcrypt_hash(UNKNOWN_USER_HASH));
        assert!(!BasicAuth::is_bcrypt_hash("hunter2"));
        assert!(!BasicAuth::is_bcrypt_hash(&ALICE.replace("$04$", "$99$")));
        assert!(!BasicAuth::is_bcrypt_hash(&ALICE.replace("$2y$", "$3y$")));
    }
}
