//! Keeping a store healthy over years: a consistent copy made while it is in use
//! (`backup`), and the space of removed records given back to the file system (`compact`).
//! Both have the database to themselves while they run: commits wait meanwhile.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::records::{Backup, Compacted};
use super::{Result, Store, StoreError};

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

impl Store {
    /// Copies the store to `to` (mode 0600), consistent as of the last commit: the database
    /// is closed while the file is copied, so nothing changes under the copy, then opened
    /// again. The copy is checked by opening it. `to` must not exist yet.
    pub fn backup(&self, to: &Path) -> Result<Backup> {
        let fail = |why: String| StoreError::Maintenance(why);
        if to.exists() {
            return Err(fail(format!(
                "`{}` exists already; remove it or choose another name (a backup never overwrites)",
                to.display()
            )));
        }
        let mut temporary = to.as_os_str().to_owned();
        temporary.push(".partial");
        let temporary = std::path::PathBuf::from(temporary);
        let from = self.path.clone();
        let copied = self.db.while_closed(|| copy_file(&from, &temporary))?;
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&temporary);
            return Err(fail(format!(
                "cannot write the backup `{}`: {e}",
                to.display()
            )));
        }
        let messages = Store::open(&temporary)
            .and_then(|copy| copy.message_count())
            .map_err(|e| {
                let _ = std::fs::remove_file(&temporary);
                fail(format!(
                    "the copy `{}` does not open as a store: {}",
                    temporary.display(),
                    crate::error::chain(&e)
                ))
            })?;
        std::fs::rename(&temporary, to)
            .map_err(|e| fail(format!("cannot name the backup `{}`: {e}", to.display())))?;
        Ok(Backup {
            to: to.display().to_string(),
            bytes: file_size(to),
            messages,
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

/// Copies `from` to the new file `to` (mode 0600) and syncs it.
fn copy_file(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut source = std::fs::File::open(from)?;
    let mut target = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)?;
    std::io::copy(&mut source, &mut target)?;
    target.flush()?;
    target.sync_all()
}
