//! HTTP basic auth against `basic_auth_users` (bcrypt hashes), as
//! exporter-toolkit does it.
//!
//! bcrypt is slow on purpose (tens of milliseconds at cost 10), and
//! Prometheus sends the same credentials on every scrape, so each distinct
//! (user, stored hash, password) is verified once and the verdict cached,
//! keyed by a SHA-256 of the three so no password is kept in memory. The
//! cache is bounded ([`CACHE_CAPACITY`]): when full, the least recently
//! used verdict makes room, so a flood of wrong passwords cannot grow it
//! and pushes out a scraper's verdict only after 256 newer ones. An unknown
//! user is checked against a fixed hash, so timing does not tell which
//! users exist.
//!
//! Verifications go through a [`BcryptGate`]: they run on the blocking
//! pool, at most one per core at a time, and at most one per client (an
//! IPv4 address, or an IPv6 /64). Slots are handed out first come, first served, and an address
//! queues for a slot only with its one check, so a flood from one client
//! holds one slot and waits behind everybody else's single check: it
//! cannot starve a scraper elsewhere, nor take every core.
//!
//! The gate and the verdicts outlive a web config reload that leaves the
//! users as they were ([`BasicAuth::carried_over`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::HeaderValue;
use base64::Engine as _;
use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

/// Verdicts kept; well above the number of scrapers of one exporter.
pub(crate) const CACHE_CAPACITY: usize = 256;

/// bcrypt (cost 10) of a password nobody has, checked for unknown users so
/// they take as long as known ones.
const UNKNOWN_USER_HASH: &str = "$2y$10$HkPsCYd9DZSjfvzt17Otf.MVSjdWqN99SZWvVtqzy.q3zu3REYvxS";

type CacheKey = [u8; 32];

/// Per client address with a check waiting or running, its turn.
type PeerLocks = Mutex<HashMap<IpAddr, Arc<tokio::sync::Mutex<()>>>>;

/// The users allowed in, the verdicts so far, and who may verify next.
#[derive(Debug)]
pub struct BasicAuth {
    users: HashMap<String, String>,
    verdicts: Mutex<Verdicts>,
    gate: Arc<BcryptGate>,
}

impl BasicAuth {
    /// Users and their bcrypt hashes (checked by [`BasicAuth::is_bcrypt_hash`]),
    /// verified at most one per core at a time.
    pub fn new(users: Vec<(String, String)>) -> BasicAuth {
        BasicAuth::with_gate(users, Arc::new(BcryptGate::per_core()))
    }

    fn with_gate(users: Vec<(String, String)>, gate: Arc<BcryptGate>) -> BasicAuth {
        BasicAuth {
            users: users.into_iter().collect(),
            verdicts: Mutex::new(Verdicts::new(CACHE_CAPACITY)),
            gate,
        }
    }

    /// What a reload should serve with instead of `self`, freshly loaded:
    /// `previous` itself when the users are the same (its verdicts stay
    /// true, since a verdict is keyed by the stored hash, and scrapers are
    /// not made to wait for bcrypt again), otherwise `self` sharing
    /// `previous`'s gate, so checks in flight still count against the
    /// limits. The flag says whether the verdicts were kept.
    pub(crate) fn carried_over(&self, previous: &Arc<BasicAuth>) -> (Arc<BasicAuth>, bool) {
        if self.users == previous.users {
            return (Arc::clone(previous), true);
        }
        let fresh = BasicAuth {
            users: self.users.clone(),
            verdicts: Mutex::new(Verdicts::new(CACHE_CAPACITY)),
            gate: Arc::clone(&previous.gate),
        };
        (Arc::new(fresh), false)
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

    /// Whether the `Authorization` header, sent from `peer`, carries the
    /// credentials of a user.
    pub(crate) async fn is_authorized(
        &self,
        authorization: Option<&HeaderValue>,
        peer: IpAddr,
    ) -> bool {
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return false;
        };
        let known = self.users.get(&user);
        let hash = known.map_or(UNKNOWN_USER_HASH, String::as_str);
        let key = cache_key(&user, hash, &password);
        if let Some(verdict) = self.cached(&key) {
            return verdict;
        }
        let Some(turn) = self.gate.turn(peer).await else {
            return false;
        };
        // Others from this address that waited with the same credentials
        // find the verdict the first one left.
        if let Some(verdict) = self.cached(&key) {
            return verdict;
        }
        let matches = turn.verify(password, hash.to_string()).await;
        let verdict = matches && known.is_some();
        tracing::debug!(%peer, %user, verdict, "basic auth verified");
        self.verdicts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, verdict);
        verdict
    }

    fn cached(&self, key: &CacheKey) -> Option<bool> {
        self.verdicts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
    }

    #[cfg(test)]
    fn cache_len(&self) -> usize {
        self.verdicts
            .lock()
            .map(|v| v.entries.len())
            .unwrap_or_default()
    }
}

/// Verdicts by key, the least recently used evicted first. Finding it scans
/// all entries, which at 256 costs far less than the bcrypt that precedes
/// every insert.
#[derive(Debug)]
struct Verdicts {
    /// The verdict and when it was last looked up or stored.
    entries: HashMap<CacheKey, (bool, u64)>,
    clock: u64,
    capacity: usize,
}

impl Verdicts {
    fn new(capacity: usize) -> Verdicts {
        Verdicts {
            entries: HashMap::with_capacity(capacity),
            clock: 0,
            capacity: capacity.max(1),
        }
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn get(&mut self, key: &CacheKey) -> Option<bool> {
        let now = self.tick();
        let (verdict, used) = self.entries.get_mut(key)?;
        *used = now;
        Some(*verdict)
    }

    fn insert(&mut self, key: CacheKey, verdict: bool) {
        let now = self.tick();
        if self.entries.len() >= self.capacity
            && !self.entries.contains_key(&key)
            && let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(key, _)| *key)
        {
            self.entries.remove(&oldest);
        }
        self.entries.insert(key, (verdict, now));
    }
}

/// Who may run bcrypt now: a slot per core, and one check per client
/// address at a time.
#[derive(Debug)]
pub(crate) struct BcryptGate {
    /// Fair: slots go to waiters in the order they asked.
    slots: Arc<Semaphore>,
    /// One lock per address with a check waiting or running; an entry goes
    /// when its last user does, so the map holds at most one per
    /// connection.
    peers: Arc<PeerLocks>,
}

impl BcryptGate {
    /// As many slots as cores (`available_parallelism`, 1 if unknown).
    pub(crate) fn per_core() -> BcryptGate {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        BcryptGate::new(cores)
    }

    fn new(slots: usize) -> BcryptGate {
        BcryptGate {
            slots: Arc::new(Semaphore::new(slots.max(1))),
            peers: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Waits for `peer`'s turn, then for a slot. `None` only if the slots
    /// were closed, which never happens.
    async fn turn(&self, peer: IpAddr) -> Option<Turn> {
        let entry = PeerEntry::join(&self.peers, client_of(peer));
        let peer_lock = Arc::clone(&entry.lock);
        let peer_turn = peer_lock.lock_owned().await;
        let slot = Arc::clone(&self.slots).acquire_owned().await.ok()?;
        Some(Turn {
            _slot: slot,
            _peer_turn: peer_turn,
            _entry: entry,
        })
    }
}

#[cfg(test)]
impl BcryptGate {
    /// Requests from `peer` waiting for or holding its turn.
    fn users_of(&self, peer: IpAddr) -> usize {
        self.peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&peer)
            // Each holds two: its entry's, and the one its wait or its
            // guard holds; plus the map's.
            .map_or(0, |lock| (Arc::strong_count(lock) - 1) / 2)
    }
}

/// The client an address stands for: itself for IPv4 (also when mapped
/// into IPv6), its /64 for IPv6, since one host usually holds a whole /64
/// and could otherwise queue once per address.
fn client_of(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// A slot and the address's turn, held until the bcrypt it was taken for
/// has finished, even if the client went away meanwhile: a client that
/// hangs up cannot start more checks than its one.
struct Turn {
    // Fields drop in this order: the lock is released before the entry
    // looks whether anyone else still uses it.
    _slot: OwnedSemaphorePermit,
    _peer_turn: OwnedMutexGuard<()>,
    _entry: PeerEntry,
}

impl Turn {
    /// Whether `password` matches `hash`, computed on the blocking pool.
    async fn verify(self, password: Vec<u8>, hash: String) -> bool {
        tokio::task::spawn_blocking(move || {
            let matches = bcrypt::verify(&password, &hash).unwrap_or(false);
            drop(self);
            matches
        })
        .await
        .unwrap_or(false)
    }
}

/// One user of an address's lock; the last one out removes it.
struct PeerEntry {
    peers: Arc<PeerLocks>,
    peer: IpAddr,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl PeerEntry {
    fn join(peers: &Arc<PeerLocks>, peer: IpAddr) -> PeerEntry {
        let lock = Arc::clone(
            peers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(peer)
                .or_default(),
        );
        PeerEntry {
            peers: Arc::clone(peers),
            peer,
            lock,
        }
    }
}

impl Drop for PeerEntry {
    fn drop(&mut self) {
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        // Ours and the map's alone: nobody else waits on it. Any other lock
        // only the map holds was left by a request cancelled mid-wait.
        peers.retain(|peer, lock| {
            let unused = if *peer == self.peer { 2 } else { 1 };
            Arc::strong_count(lock) > unused
        });
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

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    impl BasicAuth {
        async fn check(&self, authorization: Option<&HeaderValue>) -> bool {
            self.is_authorized(authorization, LOCAL).await
        }
    }

    fn basic(credentials: &str) -> HeaderValue {
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
    }

    #[tokio::test]
    async fn the_right_password_lets_in_and_anything_else_does_not() {
        let auth = auth();
        assert!(auth.check(Some(&basic("alice:correct horse"))).await);
        assert!(auth.check(Some(&basic("bob:battery staple"))).await);
        assert!(!auth.check(Some(&basic("alice:battery staple"))).await);
        assert!(!auth.check(Some(&basic("alice:"))).await);
        assert!(!auth.check(Some(&basic("carol:correct horse"))).await);
        assert!(!auth.check(Some(&basic("alice"))).await);
        assert!(!auth.check(None).await);
        let bearer = HeaderValue::from_static("Bearer abc");
        assert!(!auth.check(Some(&bearer)).await);
    }

    #[tokio::test]
    async fn the_scheme_is_case_insensitive_and_passwords_may_hold_colons() {
        let auth = BasicAuth::new(vec![(
            "alice".to_string(),
            bcrypt::hash("a:b:c", 4).unwrap(),
        )]);
        let encoded = base64::engine::general_purpose::STANDARD.encode("alice:a:b:c");
        let header = HeaderValue::from_str(&format!("bAsIc {encoded}")).unwrap();
        assert!(auth.check(Some(&header)).await);
    }

    #[tokio::test]
    async fn each_distinct_credential_is_verified_once() {
        let auth = auth();
        for _ in 0..3 {
            assert!(auth.check(Some(&basic("alice:correct horse"))).await);
            assert!(!auth.check(Some(&basic("alice:wrong"))).await);
        }
        assert_eq!(auth.cache_len(), 2);
    }

    #[tokio::test]
    async fn the_cache_stays_bounded() {
        let auth = auth();
        for i in 0..CACHE_CAPACITY + 20 {
            let _ = auth.check(Some(&basic(&format!("alice:wrong {i}")))).await;
        }
        assert_eq!(auth.cache_len(), CACHE_CAPACITY);
        assert!(auth.check(Some(&basic("alice:correct horse"))).await);
    }

    fn key(i: u8) -> CacheKey {
        [i; 32]
    }

    #[test]
    fn the_least_recently_used_verdict_is_evicted() {
        let mut verdicts = Verdicts::new(4);
        for i in 0..4 {
            verdicts.insert(key(i), i % 2 == 0);
        }
        // Used in the order 2, 0, 3: 1 is now the least recently used.
        for i in [2, 0, 3] {
            assert_eq!(verdicts.get(&key(i)), Some(i % 2 == 0));
        }
        verdicts.insert(key(10), true);
        assert_eq!(verdicts.get(&key(1)), None);
        // Then 2 (used before 0, 3 and 10), then 0.
        verdicts.insert(key(11), true);
        assert_eq!(verdicts.get(&key(2)), None);
        verdicts.insert(key(12), true);
        assert_eq!(verdicts.get(&key(0)), None);
        for i in [3, 10, 11, 12] {
            assert!(verdicts.get(&key(i)).is_some(), "{i} was evicted");
        }
        // Storing a key again refreshes it and evicts nothing.
        verdicts.insert(key(3), false);
        assert_eq!(verdicts.entries.len(), 4);
        assert_eq!(verdicts.get(&key(3)), Some(false));
    }

    #[test]
    fn a_full_cache_keeps_a_verdict_in_use_through_any_number_of_new_ones() {
        let mut verdicts = Verdicts::new(CACHE_CAPACITY);
        let scraper = [0xff; 32];
        verdicts.insert(scraper, true);
        for i in 0..CACHE_CAPACITY * 4 {
            let mut flood = [0u8; 32];
            flood[..8].copy_from_slice(&(i as u64).to_be_bytes());
            verdicts.insert(flood, false);
            if i % 100 == 0 {
                assert_eq!(verdicts.get(&scraper), Some(true), "evicted after {i}");
            }
        }
        assert_eq!(verdicts.entries.len(), CACHE_CAPACITY);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_from_one_address_holds_one_slot_and_others_go_first() {
        let gate = Arc::new(BcryptGate::new(1));
        let auth = Arc::new(BasicAuth::with_gate(
            vec![("alice".to_string(), ALICE.to_string())],
            Arc::clone(&gate),
        ));
        let flooder: IpAddr = "127.0.0.1".parse().unwrap();
        let scraper: IpAddr = "127.0.0.2".parse().unwrap();
        // Nothing runs until everyone has queued.
        let held = Arc::clone(&gate.slots).acquire_owned().await.unwrap();
        let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let flood: Vec<_> = (0..20)
            .map(|i| {
                let (auth, done) = (Arc::clone(&auth), Arc::clone(&done));
                tokio::spawn(async move {
                    let header = basic(&format!("alice:wrong {i}"));
                    assert!(!auth.is_authorized(Some(&header), flooder).await);
                    done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                })
            })
            .collect();
        // Every flood request has joined its address's queue.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while gate.users_of(flooder) < 20 {
            assert!(
                std::time::Instant::now() < deadline,
                "the flood never queued"
            );
            tokio::task::yield_now().await;
        }
        let login = {
            let (auth, done) = (Arc::clone(&auth), Arc::clone(&done));
            tokio::spawn(async move {
                let header = basic("alice:correct horse");
                let authorized = auth.is_authorized(Some(&header), scraper).await;
                // Counted as the login ends, not when this test gets to look
                // (on a loaded machine more checks could end meanwhile).
                (authorized, done.load(std::sync::atomic::Ordering::SeqCst))
            })
        };
        while gate.users_of(scraper) < 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "the login never queued"
            );
            tokio::task::yield_now().await;
        }
        drop(held);
        let (authorized, before) = login.await.unwrap();
        assert!(authorized);
        // At most the flood's check that waited for the slot before the
        // login did, and the next one, whose check may end just as the
        // login's does.
        assert!(before <= 2, "{before} flood checks went first");
        for task in flood {
            task.await.unwrap();
        }
        assert_eq!(gate.users_of(flooder), 0);
        assert!(gate.peers.lock().unwrap().is_empty());
    }

    #[test]
    fn an_ipv6_host_is_one_client_per_64_and_mapped_ipv4_is_ipv4() {
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        assert_eq!(client_of(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(client_of(ip("2001:db8:1:2:ffff::9")), ip("2001:db8:1:2::"));
        assert_ne!(client_of(ip("2001:db8:1:3::1")), ip("2001:db8:1:2::"));
        assert_eq!(client_of(ip("::ffff:127.0.0.1")), ip("127.0.0.1"));
        assert_eq!(client_of(ip("127.0.0.2")), ip("127.0.0.2"));
    }

    #[tokio::test]
    async fn a_reload_with_the_same_users_keeps_the_verdicts_and_other_users_share_the_gate() {
        let first = Arc::new(auth());
        assert!(first.check(Some(&basic("alice:correct horse"))).await);
        let (same, kept) = Arc::new(auth()).carried_over(&first);
        assert!(kept && Arc::ptr_eq(&same, &first));
        assert_eq!(same.cache_len(), 1);
        let fewer = Arc::new(BasicAuth::new(vec![(
            "alice".to_string(),
            ALICE.to_string(),
        )]));
        let (other, kept) = fewer.carried_over(&first);
        assert!(!kept);
        assert_eq!((other.len(), other.cache_len()), (1, 0));
        assert!(Arc::ptr_eq(&other.gate, &first.gate));
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
