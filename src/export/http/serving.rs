//! A web config ready to serve with: the file as [`web_config`] checked
//! it, its TLS settings built into a rustls
//! [`ServerConfig`](rustls::ServerConfig) by [`tls`], its users into a
//! [`BasicAuth`], and the files a reload watches. A [`WebConfig`] is
//! therefore always complete and usable; a reload builds a new one and
//! swaps it in whole, or keeps the old one.
//!
//! This sits above both so that the file format (plain types) and the
//! rustls build do not import each other.
//!
//! Deliberately not here: watching the files (the server polls
//! [`WebConfig::watched`]), and anything per connection or per request.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue};

use super::auth::BasicAuth;
use super::tls;
use super::web_config::{self, WebConfigError};

/// A loaded, validated web config, ready to serve with.
pub struct WebConfig {
    path: PathBuf,
    tls: Option<Arc<rustls::ServerConfig>>,
    auth: Option<Arc<BasicAuth>>,
    headers: Vec<(HeaderName, HeaderValue)>,
    watched: Vec<WatchedFile>,
}

/// A file whose change means the web config must be reloaded, with what it
/// looked like just before it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedFile {
    /// The path as resolved (relative to the web config's directory).
    pub path: PathBuf,
    /// `None` when it could not be looked at.
    pub fingerprint: Option<Fingerprint>,
}

/// Enough of a file's metadata to notice a rewrite, a replacement by
/// rename, or a symlink swap (Kubernetes Secret volumes): the path is
/// followed, so a new target shows as a new inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Fingerprint {
    /// The fingerprint of `path` now.
    pub fn of(path: &Path) -> Option<Fingerprint> {
        let meta = std::fs::metadata(path).ok()?;
        Some(Fingerprint {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        })
    }
}

impl WatchedFile {
    fn now(path: &Path) -> WatchedFile {
        WatchedFile {
            path: path.to_path_buf(),
            fingerprint: Fingerprint::of(path),
        }
    }

    /// Whether the file looks different now from when it was read.
    pub(crate) fn has_changed(&self) -> bool {
        Fingerprint::of(&self.path) != self.fingerprint
    }
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("path", &self.path)
            .field("tls", &self.tls.is_some())
            .field("basic_auth_users", &self.auth.as_ref().map(|a| a.len()))
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl WebConfig {
    /// Reads and validates the web config at `path` and everything it names.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        Self::load_watched(path).0
    }

    /// Like [`WebConfig::load`], and also says which files were involved
    /// (as far as the file could be parsed), so that a failed reload is
    /// retried when any of them changes, not only the config file.
    pub(crate) fn load_watched(
        path: &Path,
    ) -> (Result<WebConfig, WebConfigError>, Vec<WatchedFile>) {
        let mut watched = vec![WatchedFile::now(path)];
        let result = Self::load_into(path, &mut watched);
        (result, watched)
    }

    fn load_into(path: &Path, watched: &mut Vec<WatchedFile>) -> Result<WebConfig, WebConfigError> {
        let settings = web_config::parse_file(path)?;
        if let Some(tls) = &settings.tls {
            watched.extend(tls.files().map(WatchedFile::now));
        }
        let tls = match &settings.tls {
            Some(settings) => Some(Arc::new(
                tls::server_config(settings)
                    .map_err(|mistake| WebConfigError::Invalid(mistake.in_file(path)))?,
            )),
            None => None,
        };
        let auth = if settings.users.is_empty() {
            None
        } else {
            Some(Arc::new(BasicAuth::new(settings.users)))
        };
        let config = WebConfig {
            path: path.to_path_buf(),
            tls,
            auth,
            headers: settings.headers,
            watched: watched.clone(),
        };
        tracing::debug!(?config, "web config loaded");
        Ok(config)
    }

    /// Takes over what `previous`, the config served until now, learnt
    /// while serving: its basic auth verdicts when the users are the same
    /// (so a reload, say of a rotated certificate, does not send every
    /// scraper through bcrypt again), and in any case its bcrypt limits.
    /// Says whether the verdicts were kept.
    pub(crate) fn carry_over(&mut self, previous: &WebConfig) -> bool {
        let (Some(auth), Some(before)) = (&self.auth, &previous.auth) else {
            return false;
        };
        let (auth, kept) = auth.carried_over(before);
        self.auth = Some(auth);
        kept
    }

    /// The file this came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The TLS configuration new connections get, if TLS is on.
    pub fn tls(&self) -> Option<&Arc<rustls::ServerConfig>> {
        self.tls.as_ref()
    }

    /// The users allowed in, if basic auth is on.
    pub fn auth(&self) -> Option<&Arc<BasicAuth>> {
        self.auth.as_ref()
    }

    /// Headers added to every response.
    pub fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }

    /// The config file and the files it names, as they were when read.
    pub fn watched(&self) -> &[WatchedFile] {
        &self.watched
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.yml");
        let error = WebConfig::load(&path).unwrap_err();
        assert!(matches!(error, WebConfigError::Io { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("{}: cannot read web config", path.display()))
        );
    }

    #[test]
    fn an_unreadable_certificate_is_reported_at_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        std::fs::write(
            &path,
            "tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n",
        )
        .unwrap();
        let (result, watched) = WebConfig::load_watched(&path);
        let message = result.unwrap_err().to_string();
        let expected = format!(
            "{}:2:14: tls_server_config.cert_file: cannot read {}",
            path.display(),
            dir.path().join("nope.crt").display()
        );
        assert!(message.starts_with(&expected), "{message}");
        let paths: Vec<PathBuf> = watched.iter().map(|w| w.path.clone()).collect();
        assert_eq!(
            paths,
            vec![
                path.clone(),
                dir.path().join("nope.crt"),
                dir.path().join("nope.key")
            ]
        );
        assert!(watched[0].fingerprint.is_some() && watched[1].fingerprint.is_none());
    }

    #[test]
    fn a_fingerprint_changes_when_a_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.pem");
        std::fs::write(&path, "one").unwrap();
        let watched = WatchedFile::now(&path);
        assert!(!watched.has_changed());
        let next = dir.path().join("a.pem.new");
        std::fs::write(&next, "two").unwrap();
        std::fs::rename(&next, &path).unwrap();
        assert!(watched.has_changed());
    }
}
