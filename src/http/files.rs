//! The files beside the store through which the CLI finds a running daemon: its bound
//! address (`<store path>.addr`) and, when the config sets no token, the API token the
//! daemon made at its first start (`<store path>.token`). Both are mode 0600: the token is a
//! key to every stored message, and the address decides where the CLI sends it.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::secret::Secret;

/// `<store path>.addr`: the daemon's bound HTTP address.
pub fn addr_file(store_path: &Path) -> PathBuf {
    beside(store_path, ".addr")
}

/// `<store path>.token`: the API token made when the config sets none.
pub fn token_file(store_path: &Path) -> PathBuf {
    beside(store_path, ".token")
}

fn beside(store_path: &Path, suffix: &str) -> PathBuf {
    let mut name = store_path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Writes `contents` to `path`, readable and writable by the owner only, atomically: the
/// text goes to a temporary file beside it that is renamed over it, so a reader (the CLI
/// looking for the daemon) never sees it empty or half written.
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(contents.as_bytes())?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// The token in `path`, or a new random one written there (mode 0600) when there is none.
pub fn load_or_create_token(path: &Path) -> std::io::Result<Secret> {
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            return Ok(Secret::new(text.trim()));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut random = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut random)?;
    let token: String = random.iter().map(|b| format!("{b:02x}")).collect();
    write_private(path, &format!("{token}\n"))?;
    Ok(Secret::new(token))
}

/// The token in `path`, if the daemon made one.
pub fn read_token(path: &Path) -> std::io::Result<Option<Secret>> {
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => Ok(Some(Secret::new(text.trim()))),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_made_once_privately_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = token_file(&dir.path().join("s.redb"));
        assert!(read_token(&path).unwrap().is_none());
        let made = load_or_create_token(&path).unwrap();
        assert_eq!(made.expose().len(), 64);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load_or_create_token(&path).unwrap(), made);
        assert_eq!(read_token(&path).unwrap(), Some(made));
    }
}
