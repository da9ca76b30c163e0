//! A reader over one TOML table that records every problem instead of stopping at the first.
//!
//! serde's `deny_unknown_fields` stops at the first unknown key; operators want the whole
//! list at once, each with its path and the fix, so each table is read key by key here and
//! [`Fields::finish`] reports what was left unread as unknown.

use std::collections::BTreeSet;
use std::time::Duration;

use toml::{Table, Value};

use super::issues::{Issue, Issues};
use super::units::{parse_duration, parse_size};

/// Reads the keys of one table at `path`, recording issues into `issues`.
pub struct Fields<'a, 'i> {
    table: &'a Table,
    path: String,
    seen: BTreeSet<&'static str>,
    issues: &'i mut Issues,
}

impl<'a, 'i> Fields<'a, 'i> {
    pub fn new(table: &'a Table, path: impl Into<String>, issues: &'i mut Issues) -> Self {
        Fields {
            table,
            path: path.into(),
            seen: BTreeSet::new(),
            issues,
        }
    }

    /// The path of a key in this table, e.g. `accounts.helpdesk.port`.
    pub fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub fn error(&mut self, key: &str, message: impl Into<String>) {
        let path = self.path_of(key);
        self.issues.push(Issue::error(path, message));
    }

    pub fn warning(&mut self, key: &str, message: impl Into<String>) {
        let path = self.path_of(key);
        self.issues.push(Issue::warning(path, message));
    }

    /// Where this reader records problems, for the reader of a sub-table.
    pub fn issues(&mut self) -> &mut Issues {
        self.issues
    }

    /// True when the table sets `key` (marking it as known).
    pub fn has(&mut self, key: &'static str) -> bool {
        self.raw(key).is_some()
    }

    /// The raw value of `key`, marking it as known.
    pub fn raw(&mut self, key: &'static str) -> Option<&'a Value> {
        self.seen.insert(key);
        self.table.get(key)
    }

    fn typed<T>(
        &mut self,
        key: &'static str,
        what: &str,
        get: impl Fn(&Value) -> Option<T>,
    ) -> Option<T> {
        let value = self.raw(key)?;
        match get(value) {
            Some(v) => Some(v),
            None => {
                let found = value.type_str();
                self.error(key, format!("expected {what}, found {found}"));
                None
            }
        }
    }

    pub fn string(&mut self, key: &'static str) -> Option<String> {
        self.typed(key, "a string", |v| v.as_str().map(str::to_string))
    }

    pub fn boolean(&mut self, key: &'static str, default: bool) -> bool {
        self.typed(key, "true or false", Value::as_bool)
            .unwrap_or(default)
    }

    pub fn integer(&mut self, key: &'static str) -> Option<i64> {
        self.typed(key, "an integer", Value::as_integer)
    }

    /// A list of non-empty strings.
    pub fn strings(&mut self, key: &'static str) -> Option<Vec<String>> {
        let value = self.raw(key)?;
        let list: Option<Vec<String>> = value.as_array().and_then(|items| {
            items
                .iter()
                .map(|v| {
                    v.as_str()
                        .filter(|s| !s.trim().is_empty())
                        .map(str::to_string)
                })
                .collect()
        });
        if list.is_none() {
            let found = value.type_str();
            self.error(
                key,
                format!("expected a list of names like [\"mail.example.com\"], found {found}"),
            );
        }
        list
    }

    /// A string that must not be empty; records an error when it is missing.
    pub fn required_string(&mut self, key: &'static str, hint: &str) -> Option<String> {
        match self.string(key) {
            Some(s) if !s.trim().is_empty() => Some(s),
            Some(_) => {
                self.error(key, format!("must not be empty; {hint}"));
                None
            }
            None if self.table.contains_key(key) => None,
            None => {
                self.error(key, format!("is required; {hint}"));
                None
            }
        }
    }

    pub fn duration(&mut self, key: &'static str, default: Duration) -> Duration {
        let Some(text) = self.string(key) else {
            return default;
        };
        match parse_duration(&text) {
            Ok(d) if d.is_zero() => {
                self.error(key, "must be longer than zero, e.g. \"30s\"");
                default
            }
            Ok(d) => d,
            Err(e) => {
                self.error(key, e);
                default
            }
        }
    }

    /// A size given as a string with a unit or as an integer number of bytes.
    pub fn size(&mut self, key: &'static str, default: u64) -> u64 {
        let Some(value) = self.raw(key) else {
            return default;
        };
        let parsed = match value {
            Value::String(s) => parse_size(s),
            Value::Integer(n) if *n > 0 => Ok(*n as u64),
            Value::Integer(n) => Err(format!(
                "{n} is not a size; a size is larger than zero, e.g. \"50MiB\""
            )),
            other => Err(format!(
                "expected a size like \"50MiB\", found {}",
                other.type_str()
            )),
        };
        match parsed {
            Ok(0) => {
                self.error(key, "must be larger than zero");
                default
            }
            Ok(n) => n,
            Err(e) => {
                self.error(key, e);
                default
            }
        }
    }

    /// One of `choices`, or `default` when absent.
    pub fn choice(
        &mut self,
        key: &'static str,
        choices: &[&'static str],
        default: &'static str,
    ) -> &'static str {
        let Some(text) = self.string(key) else {
            return default;
        };
        match choices.iter().find(|c| **c == text) {
            Some(c) => c,
            None => {
                let list = choices.join(" | ");
                self.error(key, format!("`{text}` is not one of {list}"));
                default
            }
        }
    }

    /// A sub-table, recording an error when the key holds something else.
    pub fn table(&mut self, key: &'static str) -> Option<&'a Table> {
        let value = self.raw(key)?;
        match value {
            Value::Table(t) => Some(t),
            other => {
                let found = other.type_str();
                self.error(key, format!("expected a table, found {found}"));
                None
            }
        }
    }

    /// Reports every key that no reader asked for.
    pub fn finish(self) {
        for key in self.table.keys() {
            if !self.seen.contains(key.as_str()) {
                let known: Vec<&str> = self.seen.iter().copied().collect();
                let hint = match closest(key, &known) {
                    Some(k) => format!("did you mean `{k}`?"),
                    None => format!("known keys: {}", known.join(", ")),
                };
                let path = if self.path.is_empty() {
                    key.clone()
                } else {
                    format!("{}.{key}", self.path)
                };
                self.issues
                    .push(Issue::error(path, format!("unknown key; {hint}")));
            }
        }
    }
}

/// The known name closest to `name` by edit distance, when it is close enough to be a typo.
pub fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
