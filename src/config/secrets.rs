//! Reading a secret's source from the config (`{ env }`, `{ file }`, `{ value }`,
//! `{ command }`, `{ credential }`) and the warnings about it that need no secret read: an
//! unset variable, a missing or world-readable file, a program that is not there.

use std::path::Path;

use toml::Value;

use super::fields::Fields;
use crate::secret::{Secret, SecretSource, credential_path};

const FORMS: &str = "{ env = \"VAR\" }, { file = \"path\" }, { value = \"...\" }, { command = [\"prog\", \"arg\"] } or { credential = \"NAME\" }";

/// Reads the secret source at `key`, with warnings about what can be seen without reading it.
pub(super) fn read_secret(f: &mut Fields, key: &'static str, base: &Path) -> Option<SecretSource> {
    let value = f.raw(key)?;
    let Some(t) = value.as_table() else {
        f.error(key, format!("expected one of {FORMS}"));
        return None;
    };
    let pairs: Vec<(&String, &Value)> = t.iter().collect();
    let source = match pairs.as_slice() {
        [(k, Value::String(v))] if k.as_str() == "env" => SecretSource::Env(v.clone()),
        [(k, Value::String(v))] if k.as_str() == "file" => SecretSource::File(base.join(v)),
        [(k, Value::String(v))] if k.as_str() == "value" => {
            SecretSource::Value(Secret::new(v.clone()))
        }
        [(k, v)] if k.as_str() == "command" => SecretSource::Command(read_command(f, key, v)?),
        [(k, Value::String(v))] if k.as_str() == "credential" => {
            if v.is_empty() || v.contains('/') || v == ".." {
                f.error(key, format!("`{v}` is not a systemd credential name (the NAME of LoadCredential=NAME:...)"));
                return None;
            }
            SecretSource::Credential(v.clone())
        }
        _ => {
            f.error(key, format!("expected exactly one of {FORMS}"));
            return None;
        }
    };
    check_secret_source(f, key, &source);
    Some(source)
}

/// A command: a non-empty list of strings, the program first.
pub(super) fn read_command(f: &mut Fields, key: &str, value: &Value) -> Option<Vec<String>> {
    let argv: Option<Vec<String>> = value.as_array().and_then(|items| {
        items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect()
    });
    match argv {
        Some(argv) if argv.first().is_some_and(|p| !p.trim().is_empty()) => Some(argv),
        _ => {
            f.error(key, "expected a program and its arguments, e.g. command = [\"pass\", \"show\", \"mail/helpdesk\"] (run without a shell)");
            None
        }
    }
}

/// Warnings about a source that need no secret read.
fn check_secret_source(f: &mut Fields, key: &str, source: &SecretSource) {
    match source {
        SecretSource::Env(var) if std::env::var_os(var).is_none() => {
            f.warning(key, format!("environment variable `{var}` is not set; accounts using it will fail until it is"));
        }
        SecretSource::File(path) => check_secret_file(f, key, path),
        SecretSource::Credential(name) => match credential_path(name) {
            Ok(path) => check_secret_file(f, key, &path),
            Err(e) => f.warning(key, e.to_string()),
        },
        SecretSource::Command(argv) => check_program(f, key, &argv[0]),
        _ => {}
    }
}

fn check_secret_file(f: &mut Fields, key: &str, path: &Path) {
    match std::fs::metadata(path) {
        Err(_) => f.warning(
            key,
            format!(
                "file `{}` does not exist; accounts using it will fail until it does",
                path.display()
            ),
        ),
        Ok(meta) => {
            use std::os::unix::fs::PermissionsExt;
            if meta.permissions().mode() & 0o077 != 0 {
                f.warning(
                    key,
                    format!(
                        "file `{}` is readable by others; chmod 600 it",
                        path.display()
                    ),
                );
            }
        }
    }
}

/// Warns when `program` is not found.
pub(super) fn check_program(f: &mut Fields, key: &str, program: &str) {
    if !program_exists(program) {
        f.warning(key, format!("program `{program}` is not found (as a path, or on PATH); accounts using it will fail until it is"));
    }
}

/// True when `program` names a file (with a `/`) or is found on `PATH`.
fn program_exists(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}
