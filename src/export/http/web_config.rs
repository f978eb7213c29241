//! The web config file, `--web.config.file`, in the format of the
//! Prometheus exporter-toolkit (node_exporter's, so the same file protects
//! both): `tls_server_config`, `basic_auth_users` and
//! `http_server_config.headers`.
//!
//! Parsing reads the YAML (positions kept: every mistake names
//! `FILE:LINE:COLUMN: KEY`), checks every key and resolves the certificate,
//! key and CA files it names (relative paths are relative to the file's
//! directory, as in exporter-toolkit) into [`Settings`]: plain values, no
//! file besides this one read yet. [`super::tls`] builds rustls from them
//! and [`super::serving`] puts the whole together.
//!
//! exporter-toolkit keys that rustls cannot honour are refused by name
//! rather than ignored: a `min_version` or `max_version` below TLS12,
//! `cipher_suites`, `curve_preferences`. So are `client_allowed_sans`, which
//! errtally does not implement, and `http2: true` (errtally serves HTTP/1.1,
//! which is what Prometheus scrapes with). An empty file, or one without
//! `tls_server_config`, serves plain HTTP like no file at all.
//!
//! Deliberately not here: reading the files it names, watching files, and
//! anything per connection or per request.

use std::path::{Path, PathBuf};

use axum::http::{HeaderName, HeaderValue};
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::{LoadError, LoaderOptions, Node, Span};

use super::auth::BasicAuth;
use crate::position::{Mistake, Position, PositionedError};

/// Headers exporter-toolkit lets a web config add, with the values it
/// accepts (`None`: any value). Anything else is refused, as there.
const ALLOWED_HEADERS: &[(&str, Option<&[&str]>)] = &[
    ("Strict-Transport-Security", None),
    ("X-Content-Type-Options", Some(&["nosniff"])),
    ("X-Frame-Options", Some(&["deny", "sameorigin"])),
    ("X-XSS-Protection", None),
    ("Content-Security-Policy", None),
];

const TOP_LEVEL_KEYS: &str = "tls_server_config, http_server_config, basic_auth_users";
const TLS_KEYS: &str = "cert_file, key_file, cert, key, client_ca_file, client_ca, \
     client_auth_type, min_version, max_version, prefer_server_cipher_suites";
const HTTP_KEYS: &str = "headers, http2";

/// Why a web config was rejected; at start the caller exits with status 2.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    /// The file itself could not be read.
    #[error("{}: cannot read web config: {}", path.display(), crate::position::io_reason(error))]
    Io {
        /// The web config file.
        path: PathBuf,
        /// Why, in the message above: not the error's `source()`, so a
        /// printer of the chain (`{:#}`) does not say it twice.
        error: std::io::Error,
    },
    /// A key or value in the file is wrong, or a file it names is unusable:
    /// `FILE:LINE:COLUMN: KEY: message`, the key dotted such as
    /// `tls_server_config.min_version`, or `(syntax)`.
    #[error(transparent)]
    Invalid(PositionedError),
    /// A reload would switch TLS on or off on a listener already serving.
    #[error(
        "{}: tls_server_config: turning TLS on or off takes a restart; keeping the running web config",
        path.display()
    )]
    TlsToggled {
        /// The web config file.
        path: PathBuf,
    },
}

/// What the file asks for, checked but with no file besides it read yet.
#[derive(Debug, Default)]
pub(crate) struct Settings {
    /// `tls_server_config`, if TLS is on.
    pub tls: Option<TlsSettings>,
    /// `basic_auth_users`: names and bcrypt hashes.
    pub users: Vec<(String, String)>,
    /// `http_server_config.headers`.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// Reads and checks the web config at `path`; reads no file it names.
pub(crate) fn parse_file(path: &Path) -> Result<Settings, WebConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| WebConfigError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    Doc::new(path).parse(&text)
}

/// Client certificate policies, by exporter-toolkit's `client_auth_type`
/// (Go's `tls.ClientAuthType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    /// `NoClientCert` (the default): none asked for.
    None,
    /// `RequestClientCert`: asked for, not required, not verified.
    Request,
    /// `RequireAnyClientCert` (or its old name `RequireClientCert`):
    /// required, not verified against a CA.
    RequireAny,
    /// `VerifyClientCertIfGiven`: optional, verified when sent.
    VerifyIfGiven,
    /// `RequireAndVerifyClientCert`: required and verified (mTLS).
    RequireAndVerify,
}

impl ClientAuth {
    /// The accepted spellings, for messages.
    pub(crate) const NAMES: &str = "NoClientCert, RequestClientCert, RequireAnyClientCert, \
         VerifyClientCertIfGiven, RequireAndVerifyClientCert";

    /// The policy named `name`, as exporter-toolkit spells it.
    pub(crate) fn parse(name: &str) -> Option<ClientAuth> {
        Some(match name {
            "NoClientCert" => ClientAuth::None,
            "RequestClientCert" => ClientAuth::Request,
            // exporter-toolkit keeps the old name for compatibility.
            "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAny,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerify,
            _ => return None,
        })
    }
}

/// The TLS versions rustls implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl TlsVersion {
    /// `TLS12` or `TLS13`; the older versions exporter-toolkit knows are
    /// refused with a reason, anything else as unknown.
    pub(crate) fn parse(name: &str) -> Result<TlsVersion, String> {
        match name {
            "TLS12" => Ok(TlsVersion::Tls12),
            "TLS13" => Ok(TlsVersion::Tls13),
            "TLS10" | "TLS11" => Err(format!(
                "rustls supports TLS12 and TLS13 only; {name} cannot be honoured"
            )),
            _ => Err(format!("unknown version {name:?}; expected TLS12 or TLS13")),
        }
    }
}

impl std::fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TlsVersion::Tls12 => "TLS12",
            TlsVersion::Tls13 => "TLS13",
        })
    }
}

/// `tls_server_config`, checked, with no file read yet.
#[derive(Debug, Clone)]
pub(crate) struct TlsSettings {
    /// The certificate chain, server certificate first.
    pub cert: PemSetting,
    /// Its private key.
    pub key: PemSetting,
    /// CAs that client certificates must chain to, when verified.
    pub(crate) client_ca: Option<PemSetting>,
    /// The client certificate policy.
    pub client_auth: ClientAuth,
    /// Lowest version offered.
    pub min_version: TlsVersion,
    /// Highest version offered.
    pub(crate) max_version: TlsVersion,
    /// The server's cipher suite order wins over the client's.
    pub(crate) prefer_server_cipher_suites: bool,
}

impl TlsSettings {
    /// The files this reads, which a reload watches.
    pub(crate) fn files(&self) -> impl Iterator<Item = &std::path::Path> {
        [Some(&self.cert), Some(&self.key), self.client_ca.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|setting| match &setting.source {
                PemSource::File(path) => Some(path.as_path()),
                PemSource::Inline(_) => None,
            })
    }
}

/// Where marked_yaml says a node starts; the file's start for a node it
/// made up (an empty document).
fn spot(span: &Span) -> Position {
    span.start().map_or(Position::START, |mark| Position {
        line: mark.line(),
        column: mark.column(),
    })
}

/// Where a PEM item comes from: a file, or text inline in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PemSource {
    /// `cert_file` and the like, already resolved against the config's
    /// directory.
    File(PathBuf),
    /// `cert` and the like.
    Inline(String),
}

/// One PEM setting and where it was written, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PemSetting {
    /// What to read.
    pub source: PemSource,
    /// The dotted key it was given under.
    pub key: String,
    /// Where its value is.
    pub at: Position,
}

impl PemSetting {
    /// Its bytes: the file read now, or the inline text.
    pub(crate) fn read(&self) -> Result<Vec<u8>, Mistake> {
        match &self.source {
            PemSource::Inline(text) => Ok(text.as_bytes().to_vec()),
            PemSource::File(path) => std::fs::read(path).map_err(|error| {
                self.mistake(format!(
                    "cannot read {}: {}",
                    path.display(),
                    crate::position::io_reason(&error)
                ))
            }),
        }
    }

    /// A mistake about this setting.
    pub(crate) fn mistake(&self, message: String) -> Mistake {
        Mistake::new(self.at, self.key.clone(), message)
    }

    /// How to name it in a message: the file, or the key for inline text.
    pub(crate) fn describe(&self) -> String {
        match &self.source {
            PemSource::File(path) => path.display().to_string(),
            PemSource::Inline(_) => format!("the text of {}", self.key),
        }
    }
}

/// `tls_server_config` while its keys are read, each with where it was
/// written.
#[derive(Default)]
struct TlsDraft {
    cert: Option<PemSetting>,
    key: Option<PemSetting>,
    client_ca: Option<PemSetting>,
    client_auth: Option<(ClientAuth, Position)>,
    min_version: Option<(TlsVersion, Position)>,
    max_version: Option<(TlsVersion, Position)>,
    prefer_server_cipher_suites: Option<bool>,
}

/// The file being parsed: turns positions into errors and anchors relative
/// paths.
struct Doc<'a> {
    path: &'a Path,
    dir: PathBuf,
}

impl<'a> Doc<'a> {
    fn new(path: &'a Path) -> Doc<'a> {
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Doc { path, dir }
    }

    fn invalid(&self, at: Position, key: &str, message: impl Into<String>) -> WebConfigError {
        WebConfigError::Invalid(Mistake::new(at, key, message).in_file(self.path))
    }

    fn parse(&self, text: &str) -> Result<Settings, WebConfigError> {
        // An editor's byte-order mark would otherwise glue itself to the
        // first key.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let options = LoaderOptions::default()
            .error_on_duplicate_keys(true)
            .prevent_coercion(true);
        let root = marked_yaml::parse_yaml_with_options(0, text, options)
            .map_err(|error| self.load_error(error))?;
        let root = self.mapping(&root, "(document)")?;
        let mut settings = Settings::default();
        for (key, value) in root.into_iter().flat_map(|m| m.iter()) {
            match key.as_str() {
                "tls_server_config" => settings.tls = self.tls(key, value)?,
                "http_server_config" => settings.headers = self.http(value)?,
                "basic_auth_users" => settings.users = self.users(value)?,
                other => {
                    return Err(self.invalid(
                        spot(key.span()),
                        other,
                        format!("unknown key; expected one of {TOP_LEVEL_KEYS}"),
                    ));
                }
            }
        }
        Ok(settings)
    }

    fn load_error(&self, error: LoadError) -> WebConfigError {
        let at = |mark: &marked_yaml::Marker| Position {
            line: mark.line(),
            column: mark.column(),
        };
        match error {
            LoadError::ScanError(mark, scan) => self.invalid(at(&mark), "(syntax)", scan.info()),
            LoadError::DuplicateKey(keys) => {
                let first = spot(keys.prev_key.span());
                self.invalid(
                    spot(keys.key.span()),
                    keys.key.as_str(),
                    format!("duplicate key (first given on line {})", first.line),
                )
            }
            LoadError::TopLevelMustBeMapping(mark) | LoadError::TopLevelMustBeSequence(mark) => {
                self.invalid(
                    at(&mark),
                    "(document)",
                    format!("expected a mapping with keys such as {TOP_LEVEL_KEYS}"),
                )
            }
            LoadError::UnexpectedAnchor(mark) => self.invalid(
                at(&mark),
                "(syntax)",
                "anchors and aliases are not supported",
            ),
            LoadError::MappingKeyMustBeScalar(mark) => {
                self.invalid(at(&mark), "(syntax)", "keys must be plain strings")
            }
            LoadError::UnexpectedTag(mark) => self.invalid(
                at(&mark),
                "(syntax)",
                "YAML tags (such as !!str) are not supported",
            ),
        }
    }

    fn tls(
        &self,
        section: &MarkedScalarNode,
        node: &Node,
    ) -> Result<Option<TlsSettings>, WebConfigError> {
        let Some(map) = self.mapping(node, "tls_server_config")? else {
            return Ok(None);
        };
        if map.is_empty() {
            return Ok(None);
        }
        let mut draft = TlsDraft::default();
        for (name, value) in map.iter() {
            self.tls_key(&mut draft, name, value)?;
        }
        self.finish_tls(draft, spot(section.span())).map(Some)
    }

    /// One key of `tls_server_config`, into `draft`. Longer than most: one
    /// arm per key exporter-toolkit knows, each a few lines, read as a table.
    fn tls_key(
        &self,
        draft: &mut TlsDraft,
        name: &MarkedScalarNode,
        value: &Node,
    ) -> Result<(), WebConfigError> {
        let dotted = format!("tls_server_config.{}", name.as_str());
        let at = spot(value.span());
        match name.as_str() {
            "cert_file" | "cert" => self.pem(&mut draft.cert, name, value, &dotted, "cert")?,
            "key_file" | "key" => self.pem(&mut draft.key, name, value, &dotted, "key")?,
            "client_ca_file" | "client_ca" => {
                self.pem(&mut draft.client_ca, name, value, &dotted, "client_ca")?;
            }
            "client_auth_type" => {
                if let Some(text) = self.string(value, &dotted)? {
                    let auth = ClientAuth::parse(&text).ok_or_else(|| {
                        self.invalid(
                            at,
                            &dotted,
                            format!(
                                "unknown client_auth_type {text:?}; expected one of {}",
                                ClientAuth::NAMES
                            ),
                        )
                    })?;
                    draft.client_auth = Some((auth, at));
                }
            }
            "min_version" | "max_version" => {
                if let Some(text) = self.string(value, &dotted)? {
                    let version = TlsVersion::parse(&text)
                        .map_err(|message| self.invalid(at, &dotted, message))?;
                    let slot = if name.as_str() == "min_version" {
                        &mut draft.min_version
                    } else {
                        &mut draft.max_version
                    };
                    *slot = Some((version, at));
                }
            }
            // rustls can honour this one: the server's suite order wins.
            "prefer_server_cipher_suites" => {
                if let Some(prefer) = self.boolean(value, &dotted)? {
                    draft.prefer_server_cipher_suites = Some(prefer);
                }
            }
            "cipher_suites" | "curve_preferences" => self.refuse_list(
                value,
                &dotted,
                "rustls cannot honour this: it offers only its own modern TLS 1.2 and \
                 1.3 suites and key exchange groups; remove the key",
            )?,
            "client_allowed_sans" => self.refuse_list(
                value,
                &dotted,
                "not supported by errtally; restrict clients through the CA in \
                 client_ca_file instead",
            )?,
            other => {
                return Err(self.invalid(
                    spot(name.span()),
                    &format!("tls_server_config.{other}"),
                    format!("unknown key; expected one of {TLS_KEYS}"),
                ));
            }
        }
        Ok(())
    }

    /// A list key errtally cannot honour: refused unless empty.
    fn refuse_list(&self, value: &Node, dotted: &str, why: &str) -> Result<(), WebConfigError> {
        if self.list_len(value, dotted)? > 0 {
            return Err(self.invalid(spot(value.span()), dotted, why));
        }
        Ok(())
    }

    /// The settings of a section whose keys all parsed: what is required
    /// is there, and the keys agree with each other.
    fn finish_tls(
        &self,
        draft: TlsDraft,
        section_at: Position,
    ) -> Result<TlsSettings, WebConfigError> {
        let missing = |key: &str| {
            self.invalid(
                section_at,
                key,
                "missing: TLS needs cert_file (or cert) and key_file (or key)",
            )
        };
        let cert = draft
            .cert
            .ok_or_else(|| missing("tls_server_config.cert_file"))?;
        let key = draft
            .key
            .ok_or_else(|| missing("tls_server_config.key_file"))?;
        let (client_auth, client_auth_at) =
            draft.client_auth.unwrap_or((ClientAuth::None, section_at));
        match (&draft.client_ca, client_auth) {
            (Some(ca), ClientAuth::None) => {
                return Err(self.invalid(
                    ca.at,
                    &ca.key,
                    "client CAs are set but client_auth_type is NoClientCert, so no client \
                     certificate would be asked for; set client_auth_type: RequireAndVerifyClientCert",
                ));
            }
            (None, ClientAuth::VerifyIfGiven | ClientAuth::RequireAndVerify) => {
                return Err(self.invalid(
                    client_auth_at,
                    "tls_server_config.client_auth_type",
                    "verifying client certificates needs client_ca_file (or client_ca): the CAs \
                     that sign them",
                ));
            }
            _ => {}
        }
        let min = draft.min_version.map_or(TlsVersion::Tls12, |(v, _)| v);
        let max = draft.max_version.map_or(TlsVersion::Tls13, |(v, _)| v);
        if min > max {
            let at = draft.min_version.map_or(section_at, |(_, at)| at);
            return Err(self.invalid(
                at,
                "tls_server_config.min_version",
                format!("{min} is above max_version {max}"),
            ));
        }
        Ok(TlsSettings {
            cert,
            key,
            client_ca: draft.client_ca,
            client_auth,
            min_version: min,
            max_version: max,
            prefer_server_cipher_suites: draft.prefer_server_cipher_suites.unwrap_or(true),
        })
    }

    /// One of the `X_file` / `X` pairs; giving both is a mistake.
    fn pem(
        &self,
        slot: &mut Option<PemSetting>,
        name: &MarkedScalarNode,
        value: &Node,
        dotted: &str,
        inline_name: &str,
    ) -> Result<(), WebConfigError> {
        let Some(text) = self.string(value, dotted)? else {
            return Ok(());
        };
        if slot.is_some() {
            return Err(self.invalid(
                spot(name.span()),
                dotted,
                format!("give {inline_name}_file or {inline_name}, not both"),
            ));
        }
        let source = if name.as_str().ends_with("_file") {
            let path = Path::new(&text);
            PemSource::File(if path.is_absolute() {
                path.to_path_buf()
            } else {
                self.dir.join(path)
            })
        } else {
            PemSource::Inline(text)
        };
        *slot = Some(PemSetting {
            source,
            key: dotted.to_string(),
            at: spot(value.span()),
        });
        Ok(())
    }

    fn http(&self, node: &Node) -> Result<Vec<(HeaderName, HeaderValue)>, WebConfigError> {
        let mut headers = Vec::new();
        let Some(map) = self.mapping(node, "http_server_config")? else {
            return Ok(headers);
        };
        for (name, value) in map.iter() {
            let dotted = format!("http_server_config.{}", name.as_str());
            match name.as_str() {
                "headers" => headers = self.headers(value)?,
                "http2" => {
                    if self.boolean(value, &dotted)? == Some(true) {
                        return Err(self.invalid(
                            spot(value.span()),
                            &dotted,
                            "errtally serves HTTP/1.1 only (what Prometheus scrapes with); \
                             remove the key or set it to false",
                        ));
                    }
                }
                other => {
                    return Err(self.invalid(
                        spot(name.span()),
                        &format!("http_server_config.{other}"),
                        format!("unknown key; expected one of {HTTP_KEYS}"),
                    ));
                }
            }
        }
        Ok(headers)
    }

    fn headers(&self, node: &Node) -> Result<Vec<(HeaderName, HeaderValue)>, WebConfigError> {
        let mut headers = Vec::new();
        let Some(map) = self.mapping(node, "http_server_config.headers")? else {
            return Ok(headers);
        };
        for (name, value) in map.iter() {
            let dotted = format!("http_server_config.headers.{}", name.as_str());
            let Some(&(allowed, values)) = ALLOWED_HEADERS
                .iter()
                .find(|(allowed, _)| *allowed == name.as_str())
            else {
                let names: Vec<&str> = ALLOWED_HEADERS.iter().map(|(name, _)| *name).collect();
                return Err(self.invalid(
                    spot(name.span()),
                    &dotted,
                    format!(
                        "this header cannot be configured; expected one of {}",
                        names.join(", ")
                    ),
                ));
            };
            let text = self.string(value, &dotted)?.unwrap_or_default();
            if let Some(values) = values
                && !values.contains(&text.as_str())
            {
                return Err(self.invalid(
                    spot(value.span()),
                    &dotted,
                    format!("expected one of {}, found {text:?}", values.join(", ")),
                ));
            }
            let value = HeaderValue::from_str(&text).map_err(|_| {
                self.invalid(
                    spot(value.span()),
                    &dotted,
                    "not a valid header value (control characters?)",
                )
            })?;
            let name = HeaderName::from_bytes(allowed.as_bytes())
                .map_err(|_| self.invalid(spot(name.span()), &dotted, "not a valid header name"))?;
            headers.push((name, value));
        }
        Ok(headers)
    }

    fn users(&self, node: &Node) -> Result<Vec<(String, String)>, WebConfigError> {
        let mut users = Vec::new();
        let Some(map) = self.mapping(node, "basic_auth_users")? else {
            return Ok(users);
        };
        for (user, hash) in map.iter() {
            let dotted = format!("basic_auth_users.{}", user.as_str());
            if user.as_str().contains(':') {
                return Err(self.invalid(
                    spot(user.span()),
                    &dotted,
                    "a user name cannot contain ':' (basic auth splits user and password there)",
                ));
            }
            let Some(text) = self.string(hash, &dotted)? else {
                return Err(self.invalid(spot(user.span()), &dotted, "missing bcrypt hash"));
            };
            if !BasicAuth::is_bcrypt_hash(&text) {
                return Err(self.invalid(
                    spot(hash.span()),
                    &dotted,
                    "not a bcrypt hash; make one with `htpasswd -nBC 10 USER` and give the part \
                     after the colon (it starts with $2y$, $2b$ or $2a$)",
                ));
            }
            users.push((user.as_str().to_string(), text));
        }
        Ok(users)
    }

    /// A mapping, or `None` for an empty value or `null`.
    fn mapping<'n>(
        &self,
        node: &'n Node,
        key: &str,
    ) -> Result<Option<&'n MarkedMappingNode>, WebConfigError> {
        match node {
            Node::Mapping(map) => Ok(Some(map)),
            Node::Scalar(scalar) if is_null(scalar) => Ok(None),
            _ => Err(self.invalid(spot(node.span()), key, "expected a mapping of keys")),
        }
    }

    /// A string; `None` for an empty value, `""` or `null`.
    fn string(&self, node: &Node, key: &str) -> Result<Option<String>, WebConfigError> {
        match node {
            Node::Scalar(scalar) if is_null(scalar) || scalar.as_str().is_empty() => Ok(None),
            Node::Scalar(scalar) => Ok(Some(scalar.as_str().to_string())),
            _ => Err(self.invalid(spot(node.span()), key, "expected a string")),
        }
    }

    fn boolean(&self, node: &Node, key: &str) -> Result<Option<bool>, WebConfigError> {
        match node {
            Node::Scalar(scalar) if is_null(scalar) => Ok(None),
            Node::Scalar(scalar) => scalar.as_bool().map(Some).ok_or_else(|| {
                self.invalid(
                    spot(node.span()),
                    key,
                    format!("expected true or false, found {:?}", scalar.as_str()),
                )
            }),
            _ => Err(self.invalid(spot(node.span()), key, "expected true or false")),
        }
    }

    /// The length of a list; `0` for an empty value or `null`.
    fn list_len(&self, node: &Node, key: &str) -> Result<usize, WebConfigError> {
        match node {
            Node::Sequence(list) => Ok(list.len()),
            Node::Scalar(scalar) if is_null(scalar) => Ok(0),
            _ => Err(self.invalid(spot(node.span()), key, "expected a list")),
        }
    }
}

/// YAML's spellings of null, unquoted (quoted `'null'` is a string).
fn is_null(scalar: &MarkedScalarNode) -> bool {
    scalar.may_coerce() && matches!(scalar.as_str(), "" | "~" | "null" | "Null" | "NULL")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const PATH: &str = "/etc/errtally/web.yml";
    const ALICE: &str = "$2y$04$sRiD5rft4Ve6uuYHxrrsQe44ymT0VwJZl643LO0W.aq6Ok19tbbEG";

    fn parse(text: &str) -> Result<Settings, WebConfigError> {
        Doc::new(Path::new(PATH)).parse(text)
    }

    /// The error's line, column and key, and its whole message.
    fn rejected(text: &str) -> (usize, usize, String, String) {
        let error = parse(text).expect_err("web config should be rejected");
        let display = error.to_string();
        match error {
            WebConfigError::Invalid(PositionedError {
                mistake:
                    Mistake {
                        at: Some(at),
                        key: Some(key),
                        ..
                    },
                ..
            }) => (at.line, at.column, key, display),
            other => panic!("expected Invalid with a position and a key, got {other:?}"),
        }
    }

    fn assert_rejected(text: &str, line: usize, column: usize, key: &str, needle: &str) {
        let (got_line, got_column, got_key, display) = rejected(text);
        assert_eq!(
            (got_line, got_column, got_key.as_str()),
            (line, column, key),
            "{display}"
        );
        assert!(
            display.starts_with(&format!("{PATH}:{line}:{column}: {key}: ")),
            "{display}"
        );
        assert!(display.contains(needle), "{display:?} lacks {needle:?}");
    }

    #[test]
    fn an_empty_file_serves_plain_http_without_auth() {
        for text in [
            "",
            "# nothing yet\n",
            "tls_server_config:\nbasic_auth_users: {}\n",
        ] {
            let settings = parse(text).unwrap();
            assert!(
                settings.tls.is_none() && settings.users.is_empty(),
                "{text:?}"
            );
            assert!(settings.headers.is_empty());
        }
    }

    #[test]
    fn a_full_config_parses_with_paths_relative_to_its_directory() {
        let text = format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: /abs/server.key\n  \
             client_ca_file: ca/clients.pem\n  client_auth_type: RequireAndVerifyClientCert\n  \
             min_version: TLS13\n  prefer_server_cipher_suites: false\n\
             basic_auth_users:\n  alice: {ALICE}\n\
             http_server_config:\n  headers:\n    X-Frame-Options: deny\n    \
             Strict-Transport-Security: max-age=31536000\n  http2: false\n"
        );
        let settings = parse(&text).unwrap();
        let tls = settings.tls.unwrap();
        assert_eq!(
            tls.cert.source,
            PemSource::File(PathBuf::from("/etc/errtally/server.crt"))
        );
        assert_eq!(
            tls.cert.at,
            Position {
                line: 2,
                column: 14
            }
        );
        assert_eq!(
            tls.key.source,
            PemSource::File(PathBuf::from("/abs/server.key"))
        );
        assert_eq!(
            tls.client_ca.unwrap().source,
            PemSource::File(PathBuf::from("/etc/errtally/ca/clients.pem"))
        );
        assert_eq!(tls.client_auth, ClientAuth::RequireAndVerify);
        assert_eq!(
            (tls.min_version, tls.max_version),
            (TlsVersion::Tls13, TlsVersion::Tls13)
        );
        assert!(!tls.prefer_server_cipher_suites);
        assert_eq!(
            settings.users,
            vec![("alice".to_string(), ALICE.to_string())]
        );
        let headers: Vec<(String, String)> = settings
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        assert_eq!(
            headers,
            vec![
                ("x-frame-options".to_string(), "deny".to_string()),
                (
                    "strict-transport-security".to_string(),
                    "max-age=31536000".to_string()
                ),
            ]
        );
    }

    #[test]
    fn every_exporter_toolkit_client_auth_type_is_understood() {
        for (name, expected) in [
            ("NoClientCert", ClientAuth::None),
            ("RequestClientCert", ClientAuth::Request),
            ("RequireAnyClientCert", ClientAuth::RequireAny),
            ("RequireClientCert", ClientAuth::RequireAny),
            ("VerifyClientCertIfGiven", ClientAuth::VerifyIfGiven),
            ("RequireAndVerifyClientCert", ClientAuth::RequireAndVerify),
        ] {
            let ca = if expected == ClientAuth::None {
                ""
            } else {
                "  client_ca_file: ca.pem\n"
            };
            let text = format!(
                "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n{ca}  client_auth_type: {name}\n"
            );
            assert_eq!(
                parse(&text).unwrap().tls.unwrap().client_auth,
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn inline_pem_is_accepted_and_both_forms_at_once_are_not() {
        let text = "tls_server_config:\n  cert: |\n    -----BEGIN CERTIFICATE-----\n    \
                    AAAA\n    -----END CERTIFICATE-----\n  key_file: a.key\n";
        let tls = parse(text).unwrap().tls.unwrap();
        assert!(
            matches!(&tls.cert.source, PemSource::Inline(pem) if pem.starts_with("-----BEGIN CERTIFICATE-----\nAAAA\n"))
        );
        assert_rejected(
            "tls_server_config:\n  cert_file: a.crt\n  cert: x\n  key_file: a.key\n",
            3,
            3,
            "tls_server_config.cert",
            "give cert_file or cert, not both",
        );
    }

    #[test]
    fn keys_rustls_cannot_honour_are_refused_by_name() {
        let base = "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n";
        assert_rejected(
            &format!("{base}  cipher_suites: [TLS_AES_128_GCM_SHA256]\n"),
            4,
            18,
            "tls_server_config.cipher_suites",
            "rustls cannot honour this",
        );
        assert_rejected(
            &format!("{base}  curve_preferences:\n    - X25519\n"),
            5,
            5,
            "tls_server_config.curve_preferences",
            "rustls cannot honour this",
        );
        assert_rejected(
            &format!("{base}  min_version: TLS11\n"),
            4,
            16,
            "tls_server_config.min_version",
            "rustls supports TLS12 and TLS13 only",
        );
        assert_rejected(
            &format!("{base}  max_version: TLS10\n"),
            4,
            16,
            "tls_server_config.max_version",
            "rustls supports TLS12 and TLS13 only",
        );
        assert_rejected(
            &format!("{base}  client_allowed_sans: [a.example]\n"),
            4,
            24,
            "tls_server_config.client_allowed_sans",
            "not supported",
        );
        assert_rejected(
            "http_server_config:\n  http2: true\n",
            2,
            10,
            "http_server_config.http2",
            "HTTP/1.1 only",
        );
        // Empty lists ask for nothing rustls cannot do.
        assert!(
            parse(&format!(
                "{base}  cipher_suites: []\n  curve_preferences:\n"
            ))
            .is_ok()
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_their_position() {
        assert_rejected(
            "tls_config:\n  cert_file: a\n",
            1,
            1,
            "tls_config",
            "unknown key; expected one of tls_server_config",
        );
        assert_rejected(
            "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  keyfile: b\n",
            4,
            3,
            "tls_server_config.keyfile",
            "unknown key; expected one of cert_file",
        );
        assert_rejected(
            "http_server_config:\n  header:\n    X-Frame-Options: deny\n",
            2,
            3,
            "http_server_config.header",
            "unknown key; expected one of headers, http2",
        );
    }

    #[test]
    fn values_are_checked() {
        let base = "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n";
        assert_rejected(
            &format!("{base}  client_auth_type: RequireAndVerify\n"),
            4,
            21,
            "tls_server_config.client_auth_type",
            "expected one of NoClientCert, RequestClientCert",
        );
        assert_rejected(
            &format!("{base}  min_version: TLS14\n"),
            4,
            16,
            "tls_server_config.min_version",
            "expected TLS12 or TLS13",
        );
        assert_rejected(
            &format!("{base}  min_version: TLS13\n  max_version: TLS12\n"),
            4,
            16,
            "tls_server_config.min_version",
            "TLS13 is above max_version TLS12",
        );
        assert_rejected(
            &format!("{base}  prefer_server_cipher_suites: maybe\n"),
            4,
            32,
            "tls_server_config.prefer_server_cipher_suites",
            "expected true or false, found \"maybe\"",
        );
        assert_rejected(
            "tls_server_config:\n  key_file: a.key\n  cert_file: [a, b]\n",
            3,
            14,
            "tls_server_config.cert_file",
            "expected a string",
        );
        assert_rejected(
            "tls_server_config: yes\n",
            1,
            20,
            "tls_server_config",
            "expected a mapping",
        );
    }

    #[test]
    fn tls_needs_a_certificate_and_a_key() {
        assert_rejected(
            "tls_server_config:\n  key_file: a.key\n",
            1,
            1,
            "tls_server_config.cert_file",
            "missing: TLS needs cert_file",
        );
        assert_rejected(
            "tls_server_config:\n  cert_file: a.crt\n  min_version: TLS12\n",
            1,
            1,
            "tls_server_config.key_file",
            "missing",
        );
    }

    #[test]
    fn client_cas_and_client_auth_type_must_agree() {
        let base = "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n";
        assert_rejected(
            &format!("{base}  client_ca_file: ca.pem\n"),
            4,
            19,
            "tls_server_config.client_ca_file",
            "client_auth_type is NoClientCert",
        );
        assert_rejected(
            &format!("{base}  client_auth_type: RequireAndVerifyClientCert\n"),
            4,
            21,
            "tls_server_config.client_auth_type",
            "needs client_ca_file",
        );
        // Unverified client certificates need no CA, as in Go.
        let text = format!("{base}  client_auth_type: RequireAnyClientCert\n");
        assert_eq!(
            parse(&text).unwrap().tls.unwrap().client_auth,
            ClientAuth::RequireAny
        );
    }

    #[test]
    fn basic_auth_users_need_bcrypt_hashes() {
        assert_rejected(
            "basic_auth_users:\n  alice: hunter2\n",
            2,
            10,
            "basic_auth_users.alice",
            "not a bcrypt hash",
        );
        assert_rejected(
            "basic_auth_users:\n  alice:\n",
            2,
            3,
            "basic_auth_users.alice",
            "missing bcrypt hash",
        );
        assert_rejected(
            &format!("basic_auth_users:\n  'a:b': {ALICE}\n"),
            2,
            3,
            "basic_auth_users.a:b",
            "cannot contain ':'",
        );
        let error = parse("basic_auth_users:\n  alice: hunter2\n").unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn only_the_headers_exporter_toolkit_allows_can_be_set() {
        assert_rejected(
            "http_server_config:\n  headers:\n    Server: errtally\n",
            3,
            5,
            "http_server_config.headers.Server",
            "cannot be configured; expected one of Strict-Transport-Security",
        );
        assert_rejected(
            "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
            3,
            22,
            "http_server_config.headers.X-Frame-Options",
            "expected one of deny, sameorigin, found \"allow\"",
        );
        assert_rejected(
            "http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n",
            3,
            29,
            "http_server_config.headers.X-Content-Type-Options",
            "expected one of nosniff",
        );
    }

    #[test]
    fn yaml_mistakes_have_positions() {
        assert_rejected(
            "tls_server_config:\n  cert_file: [a\n",
            3,
            1,
            "(syntax)",
            "flow sequence",
        );
        assert_rejected(
            "basic_auth_users: {}\nbasic_auth_users: {}\n",
            2,
            1,
            "basic_auth_users",
            "duplicate key (first given on line 1)",
        );
        assert_rejected("- a\n", 1, 1, "(document)", "expected a mapping");
        assert_rejected(
            "tls_server_config:\n  cert_file: !!str a\n",
            2,
            20,
            "(syntax)",
            "YAML tags",
        );
    }

    #[test]
    fn quoted_null_is_a_string_and_a_byte_order_mark_is_skipped() {
        let settings =
            parse("\u{feff}tls_server_config:\n  cert_file: 'null'\n  key_file: k\n").unwrap();
        assert_eq!(
            settings.tls.unwrap().cert.source,
            PemSource::File(PathBuf::from("/etc/errtally/null"))
        );
    }

    #[test]
    fn the_shipped_example_parses() {
        let text = include_str!("../../../config/web-config.example.yml");
        let settings = parse(text).unwrap();
        let tls = settings.tls.unwrap();
        assert_eq!(
            tls.cert.source,
            PemSource::File(PathBuf::from("/etc/errtally/tls/server.crt"))
        );
        assert_eq!(tls.client_auth, ClientAuth::RequireAndVerify);
        assert_eq!(settings.users.len(), 1);
        assert_eq!(settings.headers.len(), 3);
    }
}
