//! Reading IMAP answers at the line level, for the commands whose answers mail-ingest reads
//! itself: CRLF lines of bounded length, literals announced at a line's end, the numbers
//! of `UID` and `RFC822.SIZE` items, and the server's `BYE`.

use tokio::io::{AsyncBufReadExt, AsyncReadExt};

use crate::error::{CheckError, Stage, describe_io};

/// Longest response line (outside literals) accepted.
pub const MAX_LINE: usize = 64 * 1024;

/// Reads one CRLF line (without the line end) into `line`; `command` names the command
/// whose answer it is, for errors.
pub async fn read_line<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    command: &str,
) -> Result<(), CheckError> {
    let fail = |what: String| CheckError::new(Stage::Fetch, format!("{command} failed: {what}"));
    let n = (&mut *reader)
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', line)
        .await
        .map_err(|e| fail(describe_io(&e)))?;
    if n == 0 {
        return Err(fail("the server closed the connection".into()));
    }
    if !line.ends_with(b"\n") {
        return Err(fail(format!(
            "a response line longer than {MAX_LINE} bytes"
        )));
    }
    line.pop();
    if line.ends_with(b"\r") {
        line.pop();
    }
    Ok(())
}

/// An untagged `* BYE`: the server is ending the session, saying why (e.g. Microsoft's
/// `Session invalidated - AccessTokenExpired`).
pub fn bye(line: &[u8], stage: Stage) -> Option<CheckError> {
    let rest = line.strip_prefix(b"* ")?;
    if rest.len() < 3 || !rest[..3].eq_ignore_ascii_case(b"BYE") {
        return None;
    }
    Some(CheckError::ended_by_server(
        stage,
        &crate::text::excerpt_bytes(rest),
    ))
}

/// The `n` of a line ending in `{n}` (or `{n+}`).
pub fn literal_len(line: &[u8]) -> Option<u64> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|b| *b == b'{')?;
    let digits = inner[open + 1..]
        .strip_suffix(b"+")
        .unwrap_or(&inner[open + 1..]);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) || digits.len() > 12 {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The number after item `key` (`"UID "`, `"RFC822.SIZE "`) in a FETCH answer's line.
pub fn number_after(text: &str, key: &str) -> Option<u64> {
    let upper = text.to_ascii_uppercase();
    let at = upper
        .find(&format!("({key}"))
        .map(|i| i + 1)
        .or_else(|| upper.find(&format!(" {key}")).map(|i| i + 1))?;
    let digits: String = text[at + key.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// True when `haystack` contains `needle`, ignoring ASCII case.
pub fn contains_ci(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}
