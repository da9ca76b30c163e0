//! Keeping a store healthy over years: a consistent copy made while it is in use
//! (`backup`, `snapshot`), and the space of removed records given back to the file system
//! (`compact`). Both have the database to themselves while the file is copied or compacted:
//! commits and reads wait meanwhile.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::records::{Backup, Compacted};
use super::{Result, Store, StoreError};

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn fail(why: String) -> StoreError {
    StoreError::Maintenance(why)
}

/// Refuses a backup target that exists (a backup never overwrites) or is a folder.
pub fn check_backup_target(to: &Path) -> Result<()> {
    if to.is_dir() {
        return Err(fail(format!(
            "`{}` is a folder; give the backup's file name, e.g. `{}`",
            to.display(),
            to.join("store-backup.redb").display()
        )));
    }
    if to.exists() {
        return Err(fail(format!(
            "`{}` exists already; choose another name (a backup never overwrites a file)",
            to.display()
        )));
    }
    Ok(())
}

/// A new file's name beside `path`, unique to this call.
pub fn unique_beside(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(
        ".{}-{:016x}.partial",
        std::process::id(),
        fastrand::u64(..)
    ));
    PathBuf::from(name)
}

/// Makes the copy at `temporary` the backup `to`: synced, checked by opening it as a store,
/// then linked into place (never over a file that appeared meanwhile). `temporary` is
/// removed whatever happens.
pub fn finish_backup(temporary: &Path, to: &Path) -> Result<Backup> {
    let done = (|| {
        File::open(temporary)
            .and_then(|f| f.sync_all())
            .map_err(|e| fail(format!("cannot sync the backup `{}`: {e}", to.display())))?;
        let messages = Store::open(temporary)
            .and_then(|copy| copy.message_count())
            .map_err(|e| {
                fail(format!(
                    "the copy does not open as a store: {}",
                    crate::error::chain(&e)
                ))
            })?;
        std::fs::hard_link(temporary, to).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => fail(format!(
                "`{}` appeared while the backup was made; choose another name",
                to.display()
            )),
            _ => fail(format!("cannot name the backup `{}`: {e}", to.display())),
        })?;
        Ok(Backup {
            to: to.display().to_string(),
            bytes: file_size(to),
            messages,
        })
    })();
    let _ = std::fs::remove_file(temporary);
    done
}

impl Store {
    /// Copies the store to the new file `to` (mode 0600), consistent as of the last commit:
    /// the database is closed while the file is copied, so nothing changes under the copy,
    /// then opened again; the copy is synced and checked afterwards.
    pub fn backup(&self, to: &Path) -> Result<Backup> {
        check_backup_target(to)?;
        let temporary = unique_beside(to);
        self.copy_to(&temporary)?;
        finish_backup(&temporary, to)
    }

    /// A consistent copy of the store as of its last commit, made beside it (in the store's
    /// own folder) and handed back open for reading, its name already removed: it is gone
    /// once the file is closed. Returns it with its size. The daemon streams it to the CLI.
    pub fn snapshot(&self) -> Result<(File, u64)> {
        let temporary = unique_beside(&self.path);
        self.copy_to(&temporary)?;
        let opened = File::open(&temporary);
        let _ = std::fs::remove_file(&temporary);
        let file = opened.map_err(|e| fail(format!("cannot read the copy: {e}")))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok((file, size))
    }

    /// Copies the store file to the new file `to` while the database is closed.
    fn copy_to(&self, to: &Path) -> Result<()> {
        let from = self.path.clone();
        let copied = self.db.while_closed(|| copy_file(&from, to))?;
        copied.map_err(|e| {
            let _ = std::fs::remove_file(to);
            fail(format!("cannot write the copy `{}`: {e}", to.display()))
        })
    }

    /// Gives the pages of removed records back: the file shrinks. Returns the sizes.
    pub fn compact(&self) -> Result<Compacted> {
        let before = file_size(&self.path);
        self.db.alone(|db| db.compact())?.map_err(|e| {
            StoreError::Maintenance(format!("the store could not be compacted: {e}"))
        })?;
        Ok(Compacted {
            before,
            after: file_size(&self.path),
        })
    }
}

/// Copies `from` to the new file `to` (mode 0600); the sync comes later, with the
/// database open again.
fn copy_file(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut source = File::open(from)?;
    let mut target = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)?;
    std::io::copy(&mut source, &mut target)?;
    target.flush()
}
