//! Changing the config file as a person would by hand: one account's keys set or removed
//! in place (comments, key order and every other table untouched), checked with the same
//! checks as `validate` before anything is written, then written atomically over the old
//! file with its mode kept. A change made against a file that has changed since it was read
//! is refused, so two editors never overwrite each other unseen.

use std::io::Write;
use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item, Table, Value};

use super::domain::Config;
use super::issues::{ConfigError, Issue};
use super::load::Loaded;

/// The config file the web console and `account set` edit.
#[derive(Clone, Debug)]
pub struct ConfigFile {
    path: PathBuf,
}

/// The file's text as read, and its version (a hash of the text) to hand back with a change.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The file's text.
    pub text: String,
    /// Names this text: a change made against another version is stale.
    pub version: String,
}

/// One key of an account's table.
#[derive(Clone, Debug)]
pub enum Change {
    /// Set the key to this value.
    Set(String, Value),
    /// Leave the key out (its default applies).
    Remove(String),
}

/// What a change to an account does to the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A new account: refused when one of that name exists.
    Create,
    /// The account's keys named by the changes; the others stay.
    Update,
    /// The account exactly as given: keys not among the changes are removed.
    Replace,
}

/// Why a change was not written. Nothing was written in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The file could not be read.
    #[error("cannot read the config file `{path}`: {why}", path = .0.display(), why = .1)]
    Read(PathBuf, std::io::Error),
    /// The new file could not be written.
    #[error("cannot write the config file `{path}`: {why}; it was left as it was", path = .0.display(), why = .1)]
    Write(PathBuf, std::io::Error),
    /// The file is not TOML that can be edited.
    #[error("the config file `{path}` is not valid TOML ({why}); fix it by hand first", path = .0.display(), why = .1)]
    NotToml(PathBuf, String),
    /// The file changed since the change was prepared.
    #[error(
        "the config file changed since this form was loaded (someone else saved, or it was edited by hand); load it again and make the change anew"
    )]
    Stale,
    /// A new account's name is taken.
    #[error("an account named `{0}` exists already; choose another name, or edit that one")]
    Exists(String),
    /// No such account.
    #[error("no account named `{0}` in the config file")]
    Unknown(String),
    /// The changed file would not pass `validate`.
    #[error("the change was not saved: {}", .0.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Issue>),
}

impl ConfigFile {
    /// The config file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ConfigFile { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's text and version now.
    pub fn read(&self) -> Result<Snapshot, EditError> {
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| EditError::Read(self.path.clone(), e))?;
        Ok(Snapshot {
            version: version_of(&text),
            text,
        })
    }

    /// The file's text and version now, and the config it holds (checked like `validate`):
    /// what a form shows is then what its version names.
    pub fn load(&self) -> Result<(Snapshot, Loaded), EditError> {
        let snapshot = self.read()?;
        let loaded = match Config::parse(&snapshot.text, &self.base()) {
            Ok(loaded) => loaded,
            Err(ConfigError::Invalid(issues)) => return Err(EditError::Invalid(issues)),
            Err(e) => return Err(EditError::Invalid(vec![Issue::error("", e.to_string())])),
        };
        Ok((snapshot, loaded))
    }

    /// The folder relative paths in the file are read from.
    fn base(&self) -> std::path::PathBuf {
        let base = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf())
    }

    /// Sets (or creates, or replaces) account `name` with `changes`, when the file is still
    /// at version `expected` (any version when `None`). Returns the config as now written.
    pub fn change_account(
        &self,
        name: &str,
        mode: Mode,
        changes: &[Change],
        expected: Option<&str>,
    ) -> Result<Loaded, EditError> {
        self.rewrite(expected, true, |doc| edit_account(doc, name, mode, changes))
    }

    /// The config `change_account` would write, checked, without writing it: what the
    /// console's Test connection tries.
    pub fn preview_account(
        &self,
        name: &str,
        mode: Mode,
        changes: &[Change],
    ) -> Result<Loaded, EditError> {
        self.rewrite(None, false, |doc| edit_account(doc, name, mode, changes))
    }

    /// Removes account `name` from the file.
    pub fn remove_account(&self, name: &str, expected: Option<&str>) -> Result<Loaded, EditError> {
        self.rewrite(expected, true, |doc| {
            let removed = accounts_table(doc)
                .remove(name)
                .ok_or_else(|| EditError::Unknown(name.into()))?;
            // Comments above the removed table are kept, at the end of the file.
            let above = removed
                .as_table()
                .and_then(|t| t.decor().prefix())
                .and_then(|p| p.as_str())
                .filter(|p| p.contains('#'))
                .map(str::to_owned);
            if let Some(above) = above {
                let trailing = doc.trailing().as_str().unwrap_or("").to_string();
                doc.set_trailing(format!("{above}{trailing}"));
            }
            Ok(())
        })
    }

    /// Reads, edits, checks and (when `write`) writes the file.
    fn rewrite(
        &self,
        expected: Option<&str>,
        write: bool,
        edit: impl FnOnce(&mut DocumentMut) -> Result<(), EditError>,
    ) -> Result<Loaded, EditError> {
        let now = self.read()?;
        if expected.is_some_and(|v| v != now.version) {
            return Err(EditError::Stale);
        }
        let mut doc: DocumentMut = now.text.parse().map_err(|e: toml_edit::TomlError| {
            EditError::NotToml(self.path.clone(), e.message().to_string())
        })?;
        edit(&mut doc)?;
        let text = doc.to_string();
        let loaded = match Config::parse(&text, &self.base()) {
            Ok(loaded) => loaded,
            Err(ConfigError::Invalid(issues)) => return Err(EditError::Invalid(issues)),
            Err(e) => return Err(EditError::Invalid(vec![Issue::error("", e.to_string())])),
        };
        if write {
            self.write_atomically(&text)
                .map_err(|e| EditError::Write(self.path.clone(), e))?;
        }
        Ok(loaded)
    }

    /// Writes `text` to a temporary file beside the config (with the config's mode), syncs
    /// it, and renames it over the config: a reader sees the old file or the new one.
    fn write_atomically(&self, text: &str) -> std::io::Result<()> {
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "config".into());
        let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let mode = std::fs::metadata(&self.path)?.permissions();
        let result = (|| {
            let mut file = std::fs::File::create(&temporary)?;
            file.set_permissions(mode)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temporary, &self.path)?;
            std::fs::File::open(dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        result
    }
}

impl Change {
    fn key(&self) -> &str {
        match self {
            Change::Set(k, _) | Change::Remove(k) => k,
        }
    }
}

/// Makes `changes` to account `name`'s table of `doc`.
fn edit_account(
    doc: &mut DocumentMut,
    name: &str,
    mode: Mode,
    changes: &[Change],
) -> Result<(), EditError> {
    // Comments at the end of the file stay above a table added at its end.
    let trailer = doc.trailing().as_str().unwrap_or("").to_string();
    let accounts = accounts_table(doc);
    let exists = accounts.contains_key(name);
    match mode {
        Mode::Create if exists => return Err(EditError::Exists(name.into())),
        Mode::Update if !exists => return Err(EditError::Unknown(name.into())),
        _ => {}
    }
    if !exists {
        let mut table = Table::new();
        table.decor_mut().set_prefix(trailer);
        accounts.insert(name, Item::Table(table));
        doc.set_trailing("");
    }
    let accounts = accounts_table(doc);
    let Some(table) = accounts.get_mut(name).and_then(Item::as_table_like_mut) else {
        return Err(EditError::Invalid(vec![Issue::error(
            format!("accounts.{name}"),
            "is not a table; fix the config file by hand",
        )]));
    };
    if mode == Mode::Replace {
        let given: Vec<&str> = changes.iter().map(Change::key).collect();
        let stale: Vec<String> = table
            .iter()
            .map(|(k, _)| k.to_string())
            .filter(|k| !given.contains(&k.as_str()))
            .collect();
        for key in stale {
            table.remove(&key);
        }
    }
    for change in changes {
        match change {
            Change::Set(key, value) => set(table, key, value),
            Change::Remove(key) => {
                table.remove(key);
            }
        }
    }
    Ok(())
}

/// The version of a file's text.
pub fn version_of(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex()[..32].to_string()
}

/// `[accounts]`, made (implicitly: no header of its own) when the file has none.
fn accounts_table(doc: &mut DocumentMut) -> &mut Table {
    let item = doc.entry("accounts").or_insert_with(|| {
        let mut t = Table::new();
        t.set_implicit(true);
        Item::Table(t)
    });
    if !item.is_table() {
        *item = Item::Table(Table::new());
    }
    item.as_table_mut().expect("made a table")
}

/// Sets `key` unless it holds that value already; a changed value keeps its comments.
fn set(table: &mut dyn toml_edit::TableLike, key: &str, value: &Value) {
    match table.get_mut(key).and_then(Item::as_value_mut) {
        Some(old) if same(old, value) => {}
        Some(old) => {
            let decor = old.decor().clone();
            *old = value.clone();
            *old.decor_mut() = decor;
        }
        None => {
            table.insert(key, Item::Value(value.clone()));
        }
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.value() == y.value(),
        (Value::Integer(x), Value::Integer(y)) => x.value() == y.value(),
        (Value::Boolean(x), Value::Boolean(y)) => x.value() == y.value(),
        _ => a.to_string().trim() == b.to_string().trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"# the operator's notes
[store]
path = "data/store.redb"

[credentials.c]   # who logs in
username = "u"
password = { value = "pw" }

[accounts.a]
protocol = "imap"
address = "imap.example.com"  # the old host
credential = "c"
mailbox = "Alerts"            # kept by every edit
"#;

    fn file(text: &str) -> (tempfile::TempDir, ConfigFile) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mail-ingest.toml");
        std::fs::write(&path, text).unwrap();
        (dir, ConfigFile::new(path))
    }

    #[test]
    fn an_edit_changes_its_keys_and_nothing_else() {
        let (_dir, f) = file(FILE);
        let v = f.read().unwrap().version;
        let changes = [
            Change::Set("address".into(), "mail.example.org".into()),
            Change::Set("port".into(), 1993i64.into()),
            Change::Set("protocol".into(), "imap".into()),
        ];
        let loaded = f
            .change_account("a", Mode::Update, &changes, Some(&v))
            .unwrap();
        assert_eq!(loaded.config.accounts["a"].port, 1993);
        let text = f.read().unwrap().text;
        let want = FILE
            .replace(
                "address = \"imap.example.com\"  # the old host",
                "address = \"mail.example.org\"  # the old host",
            )
            .replace(
                "mailbox = \"Alerts\"            # kept by every edit\n",
                "mailbox = \"Alerts\"            # kept by every edit\nport = 1993\n",
            );
        assert_eq!(text, want);
        let again = f.change_account("a", Mode::Update, &changes, Some(&v));
        assert!(matches!(again, Err(EditError::Stale)), "{again:?}");
    }

    #[test]
    fn an_invalid_change_writes_nothing_and_names_the_key() {
        let (_dir, f) = file(FILE);
        let changes = [Change::Set("port".into(), 70000i64.into())];
        match f.change_account("a", Mode::Update, &changes, None) {
            Err(EditError::Invalid(issues)) => {
                assert_eq!(issues[0].path, "accounts.a.port", "{issues:?}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(f.read().unwrap().text, FILE);
        let taken = f.change_account("a", Mode::Create, &[], None);
        assert!(matches!(taken, Err(EditError::Exists(_))), "{taken:?}");
    }

    #[test]
    fn accounts_are_created_replaced_and_removed() {
        let (_dir, f) = file(FILE);
        let new = [
            Change::Set("protocol".into(), "pop3".into()),
            Change::Set("address".into(), "pop.example.com".into()),
            Change::Set("credential".into(), "c".into()),
        ];
        f.change_account("b", Mode::Create, &new, None).unwrap();
        let loaded = f.change_account("a", Mode::Replace, &new, None).unwrap();
        assert_eq!(
            loaded.config.accounts["a"].mailbox, "INBOX",
            "replaced whole"
        );
        assert_eq!(loaded.config.accounts["b"].address, "pop.example.com");
        let loaded = f.remove_account("b", None).unwrap();
        assert!(!loaded.config.accounts.contains_key("b"));
        let text = f.read().unwrap().text;
        assert!(text.starts_with("# the operator's notes\n"), "{text}");
        assert!(text.contains("[credentials.c]   # who logs in"), "{text}");
    }
}
