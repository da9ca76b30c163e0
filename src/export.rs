//! Handing stored mail to other tools: one message at a time, exact bytes, into a Maildir
//! (each file flagged seen), an mbox (mboxrd: a body line starting `From `, after any `>`s,
//! gets one more `>`) or one `.eml` file each; file dates are the received times.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The shape of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// `DIR/{cur,new,tmp}`, one file per message in `cur/` flagged `S` (seen).
    Maildir,
    /// `DIR/ACCOUNT.mbox`, mboxrd.
    Mbox,
    /// `DIR/ID.eml`.
    Eml,
}

/// An export under way.
pub struct Export {
    dir: PathBuf,
    format: ExportFormat,
    mbox: Option<BufWriter<File>>,
    mbox_path: PathBuf,
    /// Messages written so far.
    pub written: u64,
    /// Their bytes.
    pub bytes: u64,
    /// mbox: messages without a final line break, given one (an mbox cannot hold them
    /// exactly).
    pub line_breaks_added: u64,
}

impl Export {
    /// Starts exporting `account` into `dir` (made when missing, mode 0700; files are 0600:
    /// mail is private). An mbox that exists already is refused, as is a Maildir or `.eml`
    /// file of the same name later: an export never overwrites.
    pub fn start(dir: &Path, account: &str, format: ExportFormat) -> std::io::Result<Export> {
        let mut folders = DirBuilder::new();
        folders.recursive(true).mode(0o700);
        folders.create(dir)?;
        let mbox_path = dir.join(format!("{account}.mbox"));
        let mbox = match format {
            ExportFormat::Maildir => {
                for sub in ["cur", "new", "tmp"] {
                    folders.create(dir.join(sub))?;
                }
                None
            }
            ExportFormat::Mbox => Some(BufWriter::new(new_file(&mbox_path)?)),
            ExportFormat::Eml => None,
        };
        Ok(Export {
            dir: dir.to_path_buf(),
            format,
            mbox,
            mbox_path,
            written: 0,
            bytes: 0,
            line_breaks_added: 0,
        })
    }

    /// Writes message `id`, received at `received` (RFC 3339).
    pub fn add(&mut self, id: u64, received: &str, raw: &[u8]) -> std::io::Result<()> {
        let when = humantime::parse_rfc3339(received).unwrap_or_else(|_| SystemTime::now());
        let seconds = when
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        match self.format {
            ExportFormat::Maildir => {
                let name = format!("{seconds}.M{id}.mail-ingest");
                let temporary = self.dir.join("tmp").join(&name);
                write_new(&temporary, raw, when)?;
                // Linked, not renamed: a file of that name already there stays as it is.
                let placed = std::fs::hard_link(
                    &temporary,
                    self.dir.join("cur").join(format!("{name}:2,S")),
                );
                let _ = std::fs::remove_file(&temporary);
                placed.map_err(|e| named(e, &self.dir.join("cur").join(format!("{name}:2,S"))))?;
            }
            ExportFormat::Eml => write_new(&self.dir.join(format!("{id}.eml")), raw, when)?,
            ExportFormat::Mbox => {
                let out = self.mbox.as_mut().expect("an mbox export has its file");
                writeln!(out, "From mail-ingest {}", asctime(when))?;
                write_quoted(out, raw)?;
                if !raw.ends_with(b"\n") {
                    out.write_all(b"\n")?;
                    self.line_breaks_added += 1;
                }
                out.write_all(b"\n")?;
            }
        }
        self.written += 1;
        self.bytes += raw.len() as u64;
        Ok(())
    }

    /// Ends the export: everything written is on disk. Returns where it went.
    pub fn finish(mut self) -> std::io::Result<PathBuf> {
        if let Some(mut out) = self.mbox.take() {
            out.flush()?;
            out.get_ref().sync_all()?;
            return Ok(self.mbox_path);
        }
        Ok(self.dir)
    }
}

fn write_new(path: &Path, raw: &[u8], when: SystemTime) -> std::io::Result<()> {
    let mut file = new_file(path)?;
    file.write_all(raw)?;
    file.set_modified(when)?;
    Ok(())
}

/// A new file (mode 0600), never one that exists.
fn new_file(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| named(e, path))
}

/// `e`, saying which file it is about.
fn named(e: std::io::Error, path: &Path) -> std::io::Error {
    let what = match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            "exists already (an export never overwrites)".to_string()
        }
        _ => e.to_string(),
    };
    std::io::Error::new(e.kind(), format!("`{}` {what}", path.display()))
}

/// Writes `raw` with every line matching `>*From ` quoted once more (mboxrd).
fn write_quoted(out: &mut impl Write, raw: &[u8]) -> std::io::Result<()> {
    for line in raw.split_inclusive(|b| *b == b'\n') {
        let unquoted = line.iter().position(|b| *b != b'>').unwrap_or(line.len());
        if line[unquoted..].starts_with(b"From ") {
            out.write_all(b">")?;
        }
        out.write_all(line)?;
    }
    Ok(())
}

/// `Wed Dec  2 14:13:37 2026`, as an mbox `From ` line dates a message (UTC).
fn asctime(t: SystemTime) -> String {
    // humantime gives `2026-12-02T14:13:37Z`; the weekday and month names come from it.
    let text = humantime::format_rfc3339_seconds(t).to_string();
    let (year, month, day) = (&text[0..4], &text[5..7], &text[8..10]);
    let time = &text[11..19];
    let days = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS[month.parse::<usize>().unwrap_or(1).clamp(1, 12) - 1];
    let day: u32 = day.parse().unwrap_or(1);
    format!(
        "{} {month} {day:>2} {time} {year}",
        WEEKDAYS[(days % 7) as usize]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mboxrd_quotes_from_lines_once_more() {
        let mut out = Vec::new();
        write_quoted(
            &mut out,
            b"Subject: x\r\n\r\nFrom here\r\n>From there\r\nFromage\r\n",
        )
        .unwrap();
        assert_eq!(
            out,
            b"Subject: x\r\n\r\n>From here\r\n>>From there\r\nFromage\r\n".to_vec()
        );
    }

    #[test]
    fn asctime_dates_like_mbox() {
        let t = humantime::parse_rfc3339("2026-12-02T14:13:37Z").unwrap();
        assert_eq!(asctime(t), "Wed Dec  2 14:13:37 2026");
        let t = humantime::parse_rfc3339("1970-01-01T00:00:00Z").unwrap();
        assert_eq!(asctime(t), "Thu Jan  1 00:00:00 1970");
    }

    #[test]
    fn every_format_writes_the_exact_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let raw = b"Subject: a\r\n\r\nbody\r\n";
        for format in [ExportFormat::Maildir, ExportFormat::Eml, ExportFormat::Mbox] {
            let to = dir.path().join(format!("{format:?}"));
            let mut e = Export::start(&to, "acct", format).unwrap();
            e.add(7, "2026-12-02T14:13:37Z", raw).unwrap();
            let written = e.finish().unwrap();
            let file = match format {
                ExportFormat::Maildir => std::fs::read_dir(to.join("cur"))
                    .unwrap()
                    .next()
                    .unwrap()
                    .unwrap()
                    .path(),
                ExportFormat::Eml => to.join("7.eml"),
                ExportFormat::Mbox => written.clone(),
            };
            let bytes = std::fs::read(&file).unwrap();
            match format {
                ExportFormat::Mbox => {
                    assert!(bytes.starts_with(b"From mail-ingest Wed Dec  2 14:13:37 2026\n"));
                    assert!(bytes.ends_with(b"body\r\n\n"));
                }
                _ => {
                    assert_eq!(bytes, raw);
                    let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
                    assert_eq!(
                        humantime::format_rfc3339_seconds(modified).to_string(),
                        "2026-12-02T14:13:37Z"
                    );
                }
            }
            if format == ExportFormat::Maildir {
                assert!(
                    file.to_string_lossy().ends_with(":2,S"),
                    "{}",
                    file.display()
                );
            }
        }
    }
}
