//! Bounded directory walks: one glob pattern expanded over the filesystem
//! (the daemon's inputs), or every regular file below a directory
//! (`scan DIR`), whatever the tree holds.
//!
//! The `glob` crate's own walk follows symlinked directories under `**`
//! without end (`ln -s . X` makes `X/X/X/...`), and skips every name that
//! is not UTF-8. This walk keeps the crate for matching one name against
//! one component ([`glob::Pattern`], on the name's lossy form, so `*` still
//! matches `caf\xe9.log`) and owns the rest:
//!
//! - the literal prefix is used as is; only wildcard components list a
//!   directory, and `**` stands for zero or more directories, as in the
//!   crate;
//! - each directory is listed at most once per pattern component, known by
//!   device and inode, so a symlink loop is walked once and a link to a
//!   directory walked elsewhere adds nothing;
//! - no directory deeper than [`MAX_DEPTH`] below the prefix is listed;
//! - a directory that cannot be listed (`EMFILE`, `EACCES`, `EIO`) is
//!   reported with its path, never skipped in silence: a listing with an
//!   error says nothing about the files it could not see;
//! - matches come back sorted (component by component, as [`Path`]
//!   orders), each once.
//!
//! What a pattern's matches are (files, directories, dangling links) is
//! the caller's to judge: like the crate, [`expand`] returns every path
//! that matches the whole pattern. [`files_below`] is the tree walk `**/*`
//! would do below a directory (any name, hidden ones too, as `grep -r`
//! reads them), judged for a reader: regular files only, each file (device
//! and inode) once.
//!
//! This module uses nothing else of the crate: the daemon's inputs
//! (`tail`) and the one-shot commands (`cmd`) both build on it.

use std::collections::HashSet;
use std::ffi::OsString;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use glob::{MatchOptions, Pattern};

/// Most directory levels listed below a pattern's literal prefix: deeper
/// than any log tree, shallow enough that a tree of links cannot blow up.
pub const MAX_DEPTH: usize = 32;

/// A directory the walk could not list.
#[derive(Debug, thiserror::Error)]
#[error("cannot list {}: {source}", path.display())]
pub struct WalkError {
    /// The directory.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: io::Error,
}

/// What one pattern expanded to.
#[derive(Debug, Default)]
pub struct Expansion {
    /// Every path that matches the whole pattern, sorted, each once.
    pub matches: Vec<PathBuf>,
    /// The directories below the literal prefix that match the pattern's
    /// directory levels (`/pods/a` and `/pods/a/app` for
    /// `/pods/*/*/*.log`), sorted, each once: what to watch for files that
    /// appear later.
    pub dirs: Vec<PathBuf>,
    /// Directories that could not be listed: when not empty, files below
    /// them may exist that `matches` lacks.
    pub errors: Vec<WalkError>,
    /// Some directory lay deeper than [`MAX_DEPTH`] and was not listed.
    pub depth_limited: bool,
    /// Directories not walked again because the walk had been in them
    /// already (a symlink loop, or a second link to one directory).
    pub revisits: usize,
    /// Paths that lead back into a directory the walk was inside (a
    /// symlink loop such as `ln -s . X`), in the order met.
    pub loops: Vec<PathBuf>,
    /// Links to directories the tree walk did not follow, since a pseudo
    /// filesystem is at or below their target (a link to `/proc`, or to
    /// `/`); the glob walk follows every link (`check` warns instead).
    pub links_not_followed: Vec<PathBuf>,
}

impl Expansion {
    /// Whether every directory the pattern reached could be listed.
    #[cfg(test)]
    pub fn is_complete(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Filesystems whose trees are made up by the kernel: `**` below them
/// meets every process's view of the whole system (`/proc/self/root`).
const PSEUDO_FILESYSTEMS: [&str; 2] = ["/proc", "/sys"];

/// One component of a pattern.
#[derive(Debug)]
enum Part {
    /// Any name at all (the tree walk's last level).
    Any,
    /// A name without metacharacters: joined, never listed for.
    Literal(OsString),
    /// A name with metacharacters: matched against each entry.
    Wild(Pattern),
    /// `**`: zero or more directories.
    Recursive,
}

/// Expands `pattern` (absolute or relative to the working directory).
/// Fails only when the pattern does not compile; trouble on the way is in
/// [`Expansion::errors`].
pub fn expand(pattern: &str) -> Result<Expansion, glob::PatternError> {
    expand_with(pattern, &|dir| std::fs::read_dir(dir))
}

/// [`expand`], listing directories with `list` (tests make it fail).
pub(crate) fn expand_with(
    pattern: &str,
    list: &dyn Fn(&Path) -> io::Result<std::fs::ReadDir>,
) -> Result<Expansion, glob::PatternError> {
    let (root, parts) = parse(pattern)?;
    Ok(walk_parts(root, &parts, list, false))
}

/// The paths below `root` that match `parts`; with `guard_links`, links
/// to a pseudo filesystem or above one are not followed.
fn walk_parts(
    root: PathBuf,
    parts: &[Part],
    list: &dyn Fn(&Path) -> io::Result<std::fs::ReadDir>,
    guard_links: bool,
) -> Expansion {
    let mut walk = Walk {
        parts,
        list,
        guard_links,
        seen: HashSet::new(),
        inside: Vec::new(),
        out: Expansion::default(),
    };
    if parts.is_empty() {
        // A plain path: it matches if something is there, link or not.
        if std::fs::symlink_metadata(&root).is_ok() {
            walk.out.matches.push(root);
        }
        return walk.out;
    }
    let start = if root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        root.as_path()
    };
    match std::fs::metadata(start) {
        Ok(meta) if meta.is_dir() => walk.step(&root, &meta, 0, 0),
        Ok(_) => {}
        Err(error) if is_absent(&error) => {}
        Err(error) => walk.fail(start, error),
    }
    let mut out = walk.out;
    out.matches.sort();
    out.matches.dedup();
    out.dirs.sort();
    out.dirs.dedup();
    out
}

/// The regular files below a directory, for a reader: what
/// [`files_below`] found.
#[derive(Debug, Default)]
pub struct TreeFiles {
    /// Regular files (links to them followed), sorted by path, each file
    /// (device and inode) once, at a path that is not a link when it has
    /// one. A path whose type could not be learnt (`EACCES` on a stat) is
    /// here too, so that reading it names the error.
    pub files: Vec<PathBuf>,
    /// Directories that could not be listed: files below them may exist
    /// that `files` lacks.
    pub errors: Vec<WalkError>,
    /// Some directory lay deeper than [`MAX_DEPTH`] and was not listed.
    pub depth_limited: bool,
    /// Links to directories not followed: a pseudo filesystem (`/proc`,
    /// `/sys`) is at or below their target.
    pub links_not_followed: Vec<PathBuf>,
}

/// A regular file the tree walk found: its identity (device, inode), when
/// a stat could learn it, dedups hard links and links to files found at
/// their own path too.
struct FoundFile {
    path: PathBuf,
    id: Option<(u64, u64)>,
    is_link: bool,
}

/// Every regular file below `dir` (which should be a directory), in any
/// subdirectory at most [`MAX_DEPTH`] levels down, links followed, with
/// the glob walk's bounds: each directory once, loops walked once; a link
/// to a pseudo filesystem (`/proc`, `/sys`) or above one is not followed.
/// Sockets, pipes, devices and dangling links are left out: they hold no
/// log to read, and a pipe would block the read.
pub fn files_below(dir: &Path) -> TreeFiles {
    files_below_with(dir, &|dir| std::fs::read_dir(dir))
}

/// [`files_below`], listing directories with `list` (tests make it fail).
pub(crate) fn files_below_with(
    dir: &Path,
    list: &dyn Fn(&Path) -> io::Result<std::fs::ReadDir>,
) -> TreeFiles {
    let expansion = walk_parts(dir.to_path_buf(), &[Part::Recursive, Part::Any], list, true);
    let mut found: Vec<FoundFile> = Vec::new();
    for path in expansion.matches {
        let is_link = std::fs::symlink_metadata(&path).is_ok_and(|meta| meta.is_symlink());
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => found.push(FoundFile {
                path,
                id: Some((meta.dev(), meta.ino())),
                is_link,
            }),
            Ok(_) => {}
            Err(error) if is_absent(&error) => {}
            Err(_) => found.push(FoundFile {
                path,
                id: None,
                is_link,
            }),
        }
    }
    // Each identity is kept at its first path in sorted order that is no
    // link, else at its first link: paths that are not links claim first.
    let mut claimed = HashSet::new();
    let mut keep = vec![false; found.len()];
    for links in [false, true] {
        for (at, file) in found.iter().enumerate() {
            if file.is_link == links {
                keep[at] = file.id.is_none_or(|id| claimed.insert(id));
            }
        }
    }
    let files = found
        .into_iter()
        .zip(keep)
        .filter_map(|(file, keep)| keep.then_some(file.path))
        .collect();
    TreeFiles {
        files,
        errors: expansion.errors,
        depth_limited: expansion.depth_limited,
        links_not_followed: expansion.links_not_followed,
    }
}

/// Whether `pattern` has a `**` component, which may cross links into
/// anything: what `errtally check` looks at more closely.
pub fn is_recursive(pattern: &str) -> bool {
    Path::new(pattern)
        .components()
        .any(|component| component.as_os_str() == "**")
}

/// The pattern's literal prefix (joined as is) and the components after
/// it, consecutive `**` merged. The whole pattern is compiled first, so a
/// pattern the crate rejects is rejected here too.
fn parse(pattern: &str) -> Result<(PathBuf, Vec<Part>), glob::PatternError> {
    Pattern::new(pattern)?;
    let mut root = PathBuf::new();
    let mut parts: Vec<Part> = Vec::new();
    for component in Path::new(pattern).components() {
        let text = component.as_os_str();
        let lossy = text.to_string_lossy();
        let part = match component {
            Component::Normal(_) if lossy == "**" => Part::Recursive,
            Component::Normal(_) if lossy.contains(['*', '?', '[']) => {
                Part::Wild(Pattern::new(&lossy)?)
            }
            // `.` only ever leads (components() drops the others).
            Component::CurDir => continue,
            _ if parts.is_empty() => {
                root.push(text);
                continue;
            }
            _ => Part::Literal(text.to_os_string()),
        };
        if matches!(part, Part::Recursive) && matches!(parts.last(), Some(Part::Recursive)) {
            continue;
        }
        parts.push(part);
    }
    Ok((root, parts))
}

/// Not there (or a file where a directory was expected): no match, not an
/// error.
fn is_absent(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// One expansion in progress.
struct Walk<'a> {
    parts: &'a [Part],
    list: &'a dyn Fn(&Path) -> io::Result<std::fs::ReadDir>,
    /// Whether links into (or above) a pseudo filesystem are left alone.
    guard_links: bool,
    /// (device, inode, part) of each directory stepped into.
    seen: HashSet<(u64, u64, usize)>,
    /// (device, inode) of the directories being walked, outermost first.
    inside: Vec<(u64, u64)>,
    out: Expansion,
}

/// An entry of a listed directory.
struct Entry {
    path: PathBuf,
    name: OsString,
    /// Its target is a directory (links followed).
    is_dir: bool,
    is_link: bool,
}

impl Walk<'_> {
    /// Steps into `dir` (described by `meta`, links followed), which
    /// matched the parts before `idx`, at `depth` levels below the prefix.
    fn step(&mut self, dir: &Path, meta: &std::fs::Metadata, idx: usize, depth: usize) {
        if depth > MAX_DEPTH {
            self.out.depth_limited = true;
            return;
        }
        let id = (meta.dev(), meta.ino());
        if !self.seen.insert((id.0, id.1, idx)) {
            self.out.revisits += 1;
            if self.inside.contains(&id) {
                self.out.loops.push(dir.to_path_buf());
            }
            return;
        }
        if depth > 0 {
            self.out.dirs.push(dir.to_path_buf());
        }
        self.inside.push(id);
        self.list_or_join(dir, idx, depth);
        self.inside.pop();
    }

    /// The body of [`Walk::step`]: joins a literal part, lists for the
    /// others.
    fn list_or_join(&mut self, dir: &Path, idx: usize, depth: usize) {
        if let Part::Literal(name) = &self.parts[idx] {
            let child = dir.join(name);
            let last = idx + 1 == self.parts.len();
            let found = if last {
                std::fs::symlink_metadata(&child).map(|_| false)
            } else {
                std::fs::metadata(&child).map(|meta| meta.is_dir())
            };
            match found {
                Ok(is_dir) => {
                    let entry = Entry {
                        path: child,
                        name: name.clone(),
                        is_dir,
                        is_link: false,
                    };
                    self.offer(&entry, idx, depth);
                }
                Err(error) if is_absent(&error) => {}
                Err(error) => self.fail(&child, error),
            }
            return;
        }
        let Some(mut entries) = self.entries(dir) else {
            return;
        };
        // Real directories before links, so a file reachable both ways is
        // found at its own path when the link comes later in the tree.
        entries.sort_by(|a, b| (a.is_link, &a.name).cmp(&(b.is_link, &b.name)));
        for entry in &entries {
            self.offer(entry, idx, depth);
        }
    }

    /// Offers `entry`, found in a directory that matched the parts before
    /// `idx`, to the part at `idx`.
    fn offer(&mut self, entry: &Entry, idx: usize, depth: usize) {
        let last = idx + 1 == self.parts.len();
        let matched = match &self.parts[idx] {
            Part::Recursive => {
                if last {
                    // A trailing `**` matches directories.
                    if entry.is_dir {
                        self.out.matches.push(entry.path.clone());
                    }
                } else {
                    // Zero directories more: the entry meets the next part.
                    self.offer(entry, idx + 1, depth);
                }
                // One directory more: `**` goes on inside it.
                if entry.is_dir && !self.is_guarded(entry) {
                    self.descend(&entry.path, idx, depth + 1);
                }
                return;
            }
            Part::Any => true,
            Part::Literal(name) => entry.name == *name,
            Part::Wild(pattern) => {
                pattern.matches_with(&entry.name.to_string_lossy(), MatchOptions::new())
            }
        };
        if !matched {
            return;
        }
        if last {
            self.out.matches.push(entry.path.clone());
        } else if entry.is_dir {
            self.descend(&entry.path, idx + 1, depth + 1);
        }
    }

    /// Whether `entry` is a link the walk must not follow: a pseudo
    /// filesystem is at or below its target (recorded when so). A link
    /// from a log directory to `/proc` or `/` would walk every process's
    /// files, and reading some of them (`/proc/kmsg`) blocks.
    fn is_guarded(&mut self, entry: &Entry) -> bool {
        if !self.guard_links || !entry.is_link {
            return false;
        }
        let Ok(target) = std::fs::canonicalize(&entry.path) else {
            return false;
        };
        let guarded = PSEUDO_FILESYSTEMS
            .into_iter()
            .any(|fs| target.starts_with(fs) || Path::new(fs).starts_with(&target));
        if guarded {
            self.out.links_not_followed.push(entry.path.clone());
        }
        guarded
    }

    /// Steps into the directory at `path` for the part at `idx`.
    fn descend(&mut self, path: &Path, idx: usize, depth: usize) {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => self.step(path, &meta, idx, depth),
            Ok(_) => {}
            Err(error) if is_absent(&error) => {}
            Err(error) => self.fail(path, error),
        }
    }

    /// The entries of `dir`; None (and an error recorded) when it cannot
    /// be listed. An entry that fails midway fails the whole listing.
    fn entries(&mut self, dir: &Path) -> Option<Vec<Entry>> {
        let listed = if dir.as_os_str().is_empty() {
            (self.list)(Path::new("."))
        } else {
            (self.list)(dir)
        };
        let listing = match listed {
            Ok(listing) => listing,
            Err(error) => {
                self.fail(dir, error);
                return None;
            }
        };
        let mut entries = Vec::new();
        for entry in listing {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    self.fail(dir, error);
                    return None;
                }
            };
            let name = entry.file_name();
            // Relative patterns give relative paths, as the crate's do.
            let path = dir.join(&name);
            let (is_dir, is_link) = match entry.file_type() {
                Ok(kind) if kind.is_symlink() => (
                    std::fs::metadata(&path).is_ok_and(|meta| meta.is_dir()),
                    true,
                ),
                Ok(kind) => (kind.is_dir(), false),
                Err(_) => (
                    std::fs::metadata(&path).is_ok_and(|meta| meta.is_dir()),
                    false,
                ),
            };
            entries.push(Entry {
                path,
                name,
                is_dir,
                is_link,
            });
        }
        Some(entries)
    }

    fn fail(&mut self, path: &Path, source: io::Error) {
        self.out.errors.push(WalkError {
            path: path.to_path_buf(),
            source,
        });
    }
}

/// Why a `**` pattern may walk far more than meant, one sentence each:
/// its literal prefix is, is in or holds a pseudo filesystem (`/proc`,
/// `/sys`: checked by prefix, not walked), or the walk below it meets a
/// symlink loop. Empty for a pattern without `**`; for `errtally check`,
/// which warns and goes on (the daemon walks such trees safely, once).
pub fn risks(pattern: &str) -> Vec<String> {
    if !is_recursive(pattern) {
        return Vec::new();
    }
    let Ok((root, _)) = parse(pattern) else {
        return Vec::new();
    };
    let root = std::path::absolute(&root).unwrap_or(root);
    let root: PathBuf = root.components().collect();
    let pseudo: Vec<&str> = PSEUDO_FILESYSTEMS
        .into_iter()
        .filter(|fs| root.starts_with(fs) || Path::new(fs).starts_with(&root))
        .collect();
    if !pseudo.is_empty() {
        return vec![format!(
            "{pattern:?}: `**` under {} walks a pseudo filesystem (every process's files, and \
             through /proc/*/root the whole system); narrow the pattern",
            pseudo.join(" and ")
        )];
    }
    let Ok(expansion) = expand(pattern) else {
        return Vec::new();
    };
    let mut risks: Vec<String> = expansion
        .loops
        .iter()
        .take(3)
        .map(|at| {
            format!(
                "{pattern:?}: `**` crosses a symlink loop at {}; each directory is walked once",
                at.display()
            )
        })
        .collect();
    if expansion.depth_limited {
        risks.push(format!(
            "{pattern:?}: `**` reaches deeper than {MAX_DEPTH} directories; deeper ones are not walked"
        ));
    }
    risks
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::symlink;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "").unwrap();
    }

    fn expanded(pattern: &str) -> Expansion {
        expand(pattern).unwrap()
    }

    /// `paths` relative to `root`, as text, for readable assertions.
    fn relative(root: &Path, paths: &[PathBuf]) -> Vec<String> {
        paths
            .iter()
            .map(|path| {
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }

    /// A tree with files at several depths, hidden names, a directory
    /// named like a file, and names the patterns below half match.
    fn normal_tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for file in [
            "a.log",
            "b.txt",
            ".hidden.log",
            "x/c.log",
            "x/y/d.log",
            "x/y/z/e.log",
            "x/app/f.log",
            "q/app/g.log",
            "q/app/h.txt",
            "q/other/i.log",
            ".dot/j.log",
            "dir.log/k.log",
            "[lit]/l.log",
        ] {
            touch(&dir.path().join(file));
        }
        dir
    }

    #[test]
    fn matches_what_the_glob_crate_matches_on_a_normal_tree() {
        let dir = normal_tree();
        let root = glob::Pattern::escape(&dir.path().to_string_lossy());
        for tail in [
            "*.log",
            "*",
            "**/*.log",
            "**/*",
            "**",
            "**/app/*.log",
            "*/app/*.log",
            "*/*/*.log",
            "x/**/*.log",
            "x/**/**/*.log",
            "**/y/*.log",
            "?/*.log",
            "[qx]/**/[!h]*",
            "a.log",
            "x/y/d.log",
            "missing/*.log",
            "a.log/*",
            "*.log/*.log",
            "[[]lit]/*.log",
        ] {
            let pattern = format!("{root}/{tail}");
            let mut want: Vec<PathBuf> =
                glob::glob(&pattern).unwrap().map(Result::unwrap).collect();
            want.sort();
            want.dedup();
            let got = expanded(&pattern);
            assert!(got.is_complete());
            assert_eq!(
                relative(dir.path(), &got.matches),
                relative(dir.path(), &want),
                "{tail}"
            );
        }
    }

    #[test]
    fn relative_patterns_give_relative_paths_like_the_crate() {
        // The working directory is the crate's: its sources are a normal
        // tree that stays put.
        for pattern in ["src/tail/*.rs", "src/**/walk.rs", "./src/tail/w*.rs"] {
            let want: Vec<PathBuf> = glob::glob(pattern).unwrap().map(Result::unwrap).collect();
            assert!(!want.is_empty(), "{pattern}");
            assert_eq!(expanded(pattern).matches, want, "{pattern}");
        }
    }

    #[test]
    fn symlink_loops_are_walked_once() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        touch(&tree.join("sub/app.log"));
        symlink(".", tree.join("X")).unwrap();
        symlink("..", tree.join("sub/Y")).unwrap();
        let got = expanded(&format!("{}/**/*.log", tree.display()));
        assert_eq!(relative(&tree, &got.matches), ["sub/app.log"]);
        assert!(got.is_complete());
        assert_eq!(got.revisits, 2, "{got:?}");
        // Real directories first: `sub` (and its link) before `X`.
        assert_eq!(relative(&tree, &got.loops), ["sub/Y", "X"]);
        assert!(!got.depth_limited);
        // Each directory is watched once, at its own path.
        assert_eq!(relative(&tree, &got.dirs), ["sub"]);
    }

    #[test]
    fn a_link_to_a_sibling_directory_yields_the_real_path() {
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("b/app.log"));
        // `A` sorts before `b`: listed first, it would win without the
        // real-directories-first order.
        symlink("b", dir.path().join("A")).unwrap();
        let got = expanded(&format!("{}/**/*.log", dir.path().display()));
        assert_eq!(relative(dir.path(), &got.matches), ["b/app.log"]);
        assert!(got.loops.is_empty(), "a second way in is no loop");
    }

    #[test]
    fn directories_deeper_than_the_limit_are_not_listed() {
        let dir = tempfile::tempdir().unwrap();
        let mut deep = dir.path().to_path_buf();
        for level in 0..40 {
            deep.push(format!("d{level}"));
            touch(&deep.join("f.log"));
        }
        let got = expanded(&format!("{}/**/*.log", dir.path().display()));
        assert!(got.depth_limited);
        assert!(got.is_complete(), "the depth limit is not an error");
        // A file in each of the 32 levels listed below the root.
        assert_eq!(got.matches.len(), MAX_DEPTH, "{:?}", got.matches);
        let shallow = expanded(&format!("{}/d0/*.log", dir.path().display()));
        assert!(!shallow.depth_limited);
    }

    #[test]
    fn names_that_are_not_utf8_match_wildcards_and_keep_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let name = OsStr::from_bytes(b"caf\xe9.log");
        touch(&dir.path().join(name));
        let sub = OsStr::from_bytes(b"d\xff");
        touch(&dir.path().join(sub).join("a.log"));
        let got = expanded(&format!("{}/**/*.log", dir.path().display()));
        let want = vec![dir.path().join(name), dir.path().join(sub).join("a.log")];
        let mut want = want;
        want.sort();
        assert_eq!(got.matches, want);
        assert!(got.matches.iter().all(|path| path.exists()));
    }

    #[test]
    fn a_directory_that_cannot_be_listed_is_an_error_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("open/a.log"));
        touch(&dir.path().join("locked/b.log"));
        let locked = dir.path().join("locked");
        // Root lists anything: the failure is injected.
        let list = |path: &Path| {
            if path == locked {
                Err(io::Error::from_raw_os_error(24))
            } else {
                std::fs::read_dir(path)
            }
        };
        let got = expand_with(&format!("{}/*/*.log", dir.path().display()), &list).unwrap();
        assert!(!got.is_complete());
        assert_eq!(got.errors.len(), 1);
        assert_eq!(got.errors[0].path, locked);
        assert_eq!(got.errors[0].source.raw_os_error(), Some(24));
        assert_eq!(relative(dir.path(), &got.matches), ["open/a.log"]);
        assert!(got.errors[0].to_string().contains("locked"));
    }

    #[test]
    fn the_real_filesystem_reports_what_it_cannot_list() {
        // A directory whose read bit is gone: root reads it anyway, so
        // this says something only for other users; a file where the
        // prefix wants a directory is no match and no error for anyone.
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("file"));
        let got = expanded(&format!("{}/file/*.log", dir.path().display()));
        assert!(got.matches.is_empty() && got.is_complete());
        let locked = dir.path().join("locked");
        touch(&locked.join("a.log"));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o300)).unwrap();
        let got = expanded(&format!("{}/locked/*.log", dir.path().display()));
        let readable = std::fs::read_dir(&locked).is_ok();
        assert_eq!(got.is_complete(), readable, "{got:?}");
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
    }

    #[test]
    fn matches_come_back_sorted_by_path() {
        let dir = tempfile::tempdir().unwrap();
        for file in ["b/x/1.log", "b/2.log", "a/3.log", "a.log", "c/y/z/4.log"] {
            touch(&dir.path().join(file));
        }
        let got = expanded(&format!("{}/**/*.log", dir.path().display()));
        assert_eq!(
            relative(dir.path(), &got.matches),
            // Component by component, as `Path` orders: `a` before `a.log`.
            ["a/3.log", "a.log", "b/2.log", "b/x/1.log", "c/y/z/4.log"]
        );
    }

    #[test]
    fn dirs_are_those_at_the_pattern_directory_levels() {
        let dir = tempfile::tempdir().unwrap();
        let pods = dir.path().join("pods");
        std::fs::create_dir_all(pods.join("a_1/app")).unwrap();
        std::fs::create_dir_all(pods.join("b_2/app")).unwrap();
        std::fs::create_dir_all(pods.join("b_2/sidecar")).unwrap();
        std::fs::write(pods.join("not_a_dir"), "").unwrap();
        let got = expanded(&format!("{}/*/*/*.log", pods.display()));
        assert_eq!(
            relative(&pods, &got.dirs),
            ["a_1", "a_1/app", "b_2", "b_2/app", "b_2/sidecar"]
        );
        assert!(
            expanded(&format!("{}/app.log", pods.display()))
                .dirs
                .is_empty()
        );
        assert!(
            expanded(&format!("{}/*.log", pods.display()))
                .dirs
                .is_empty()
        );
    }

    #[test]
    fn files_below_are_the_regular_files_sorted_each_file_once() {
        let dir = tempfile::tempdir().unwrap();
        for file in ["a.log", ".hidden", "b/c.log", "b/d/e.log.gz"] {
            touch(&dir.path().join(file));
        }
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        // A hard link and a link sorting before the real path: the file
        // is read once, at a path that is not a link.
        std::fs::hard_link(dir.path().join("a.log"), dir.path().join("b/hard")).unwrap();
        symlink("b/c.log", dir.path().join("0-link")).unwrap();
        // Loops, a dangling link and a pipe add nothing.
        symlink("..", dir.path().join("b/up")).unwrap();
        symlink(".", dir.path().join("b/d/here")).unwrap();
        symlink("missing", dir.path().join("dangling")).unwrap();
        let fifo = std::ffi::CString::new(dir.path().join("pipe").as_os_str().as_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        // A link to a file outside is read where it is found.
        let outside = tempfile::tempdir().unwrap();
        touch(&outside.path().join("x.log"));
        symlink(outside.path().join("x.log"), dir.path().join("b/x.log")).unwrap();
        let tree = files_below(dir.path());
        assert!(tree.errors.is_empty() && !tree.depth_limited);
        assert_eq!(
            relative(dir.path(), &tree.files),
            [".hidden", "a.log", "b/c.log", "b/d/e.log.gz", "b/x.log"]
        );
    }

    #[test]
    fn files_below_a_directory_that_cannot_be_listed_are_missing_and_it_is_named() {
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("open/a.log"));
        touch(&dir.path().join("locked/b.log"));
        touch(&dir.path().join("z.log"));
        let locked = dir.path().join("locked");
        let list = |path: &Path| {
            if path == locked {
                Err(io::Error::from_raw_os_error(13))
            } else {
                std::fs::read_dir(path)
            }
        };
        let tree = files_below_with(dir.path(), &list);
        assert_eq!(relative(dir.path(), &tree.files), ["open/a.log", "z.log"]);
        assert_eq!(tree.errors.len(), 1);
        assert_eq!(tree.errors[0].path, locked);
        assert_eq!(tree.errors[0].source.raw_os_error(), Some(13));
    }

    #[test]
    fn files_below_stop_at_the_depth_limit_and_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let mut deep = dir.path().to_path_buf();
        touch(&deep.join("top.log"));
        for level in 0..40 {
            deep.push(format!("d{level}"));
            touch(&deep.join("f.log"));
        }
        let tree = files_below(dir.path());
        assert!(tree.depth_limited);
        // The top file, and one in each of the 32 levels listed below it.
        assert_eq!(tree.files.len(), 1 + MAX_DEPTH);
        assert!(tree.errors.is_empty());
    }

    #[test]
    fn files_below_do_not_follow_links_into_or_above_pseudo_filesystems() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        touch(&outside.path().join("x.log"));
        touch(&dir.path().join("a.log"));
        symlink(outside.path(), dir.path().join("elsewhere")).unwrap();
        symlink("/proc/self", dir.path().join("proc")).unwrap();
        symlink("/", dir.path().join("root")).unwrap();
        symlink("/sys/kernel", dir.path().join("sys")).unwrap();
        let tree = files_below(dir.path());
        assert_eq!(
            relative(dir.path(), &tree.files),
            ["a.log", "elsewhere/x.log"]
        );
        assert_eq!(
            relative(dir.path(), &tree.links_not_followed),
            ["proc", "root", "sys"]
        );
        assert!(tree.errors.is_empty() && !tree.depth_limited);
    }

    #[test]
    fn files_below_a_file_or_nothing_are_none() {
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("a.log"));
        for path in [dir.path().join("a.log"), dir.path().join("missing")] {
            let tree = files_below(&path);
            assert!(tree.files.is_empty() && tree.errors.is_empty(), "{path:?}");
        }
    }

    #[test]
    fn bad_patterns_are_errors() {
        assert!(expand("/var/log/a**/*.log").is_err());
        assert!(expand("/var/log/[abc").is_err());
    }

    #[test]
    fn risks_name_pseudo_filesystems_and_loops_under_recursive_globs() {
        for pattern in [
            "/proc/**/*",
            "/sys/fs/**/*.log",
            "/**/*.log",
            "/proc/../proc/**",
        ] {
            let risks = risks(pattern);
            assert_eq!(risks.len(), 1, "{pattern}: {risks:?}");
            assert!(risks[0].contains("pseudo filesystem"), "{risks:?}");
        }
        assert!(
            risks("/proc/*/fd/*").is_empty(),
            "no `**`, no walk of the tree"
        );

        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        touch(&tree.join("sub/app.log"));
        assert!(risks(&format!("{}/**/*.log", tree.display())).is_empty());
        symlink(".", tree.join("sub/X")).unwrap();
        let risks = risks(&format!("{}/**/*.log", tree.display()));
        assert_eq!(risks.len(), 1, "{risks:?}");
        assert!(risks[0].contains("symlink loop"), "{risks:?}");
        assert!(risks[0].contains("sub/X"), "{risks:?}");
    }
}
