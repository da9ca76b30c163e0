//! Message parsing: raw bytes to the summary the reports show, with mail-parser.
//!
//! Parsing never fails a message: whatever cannot be parsed (no headers at all, or a
//! parser panic on hostile input) yields a summary marked `parsed = false`, and the raw
//! bytes are stored all the same.
//!
//! The parser keeps a record per header and per MIME part, many times the few bytes a
//! hostile message spends on each; so it is given a bounded prefix only: the first
//! [`MAX_HEADER_LINES`] lines for a summary, the first [`MAX_TEXT_LINES`] lines and
//! [`MAX_TEXT_BYTES`] for the text. The raw bytes keep everything.

use mail_parser::{Address, MessageParser, MimeHeaders};

pub use crate::model::Summary;

/// Longest header value kept in a summary; the raw bytes keep everything.
const MAX_FIELD: usize = 998;

/// Lines of a message's header the summary reads (real messages have a few dozen).
pub const MAX_HEADER_LINES: usize = 1000;
/// Lines of a message the text extraction reads: headers, parts and text together.
pub const MAX_TEXT_LINES: usize = 50_000;
/// Bytes of a message the text extraction reads.
pub const MAX_TEXT_BYTES: usize = 4 << 20;

/// The first `max_lines` lines (and at most `max_bytes`) of `raw`.
fn prefix(raw: &[u8], max_lines: usize, max_bytes: usize) -> &[u8] {
    let raw = &raw[..raw.len().min(max_bytes)];
    match memchr::memchr_iter(b'\n', raw).nth(max_lines.saturating_sub(1)) {
        Some(end) => &raw[..=end],
        None => raw,
    }
}

impl Summary {
    /// Parses `raw`; never panics and never fails.
    pub fn of(raw: &[u8]) -> Summary {
        std::panic::catch_unwind(|| summarize(raw)).unwrap_or_default()
    }
}

fn summarize(raw: &[u8]) -> Summary {
    // Headers only: bodies are never decoded here (attachments are counted structurally).
    let Some(msg) =
        MessageParser::default().parse_headers(prefix(raw, MAX_HEADER_LINES, usize::MAX))
    else {
        return Summary::default();
    };
    if msg.headers().is_empty() || !starts_with_header(raw) {
        return Summary::default();
    }
    Summary {
        date: msg
            .date()
            .map(|d| crate::model::rfc3339(unix_time(d.to_timestamp()))),
        from: msg.from().and_then(|a| addresses(a).into_iter().next()),
        to: msg.to().map(addresses).unwrap_or_default(),
        cc: msg.cc().map(addresses).unwrap_or_default(),
        subject: msg.subject().map(field),
        attachments: crate::mime::count_attachments(raw),
        message_id: msg.message_id().map(field),
        parsed: true,
    }
}

/// True when the first line is a header field (`Name: value`), as RFC 5322 requires.
fn starts_with_header(raw: &[u8]) -> bool {
    let name_len = raw
        .iter()
        .take_while(|b| (33..=126).contains(*b) && **b != b':')
        .count();
    name_len > 0 && raw.get(name_len) == Some(&b':')
}

fn unix_time(secs: i64) -> std::time::SystemTime {
    let secs = secs.clamp(0, 253_402_300_799); // up to 9999-12-31
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64)
}

fn addresses(a: &Address) -> Vec<String> {
    a.iter()
        .take(100)
        .map(|addr| match (&addr.name, &addr.address) {
            (Some(n), Some(e)) => field(&format!("{n} <{e}>")),
            (None, Some(e)) => field(e),
            (Some(n), None) => field(n),
            (None, None) => String::new(),
        })
        .filter(|s| !s.is_empty())
        .collect()
}

fn field(s: &str) -> String {
    crate::text::truncate_bytes(s, MAX_FIELD)
}

/// The readable text of a message: its first text body part (HTML converted), or the raw
/// text when it does not parse; from the message's first [`MAX_TEXT_LINES`] lines and
/// [`MAX_TEXT_BYTES`] (see the module documentation).
pub fn text_of(raw: &[u8]) -> String {
    let raw = prefix(raw, MAX_TEXT_LINES, MAX_TEXT_BYTES);
    let parsed = std::panic::catch_unwind(|| {
        MessageParser::default()
            .parse(raw)
            .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
    });
    match parsed {
        Ok(Some(text)) if !text.trim().is_empty() => text,
        _ => String::from_utf8_lossy(raw).into_owned(),
    }
}

/// One attachment of a message, decoded.
#[derive(Clone, Debug)]
pub struct Attachment {
    /// Its file name as the message gives it, or `attachment-N`.
    pub name: String,
    /// Its declared type, e.g. `application/pdf` (for people: it is never served as such).
    pub content_type: String,
    /// The decoded bytes.
    pub contents: Vec<u8>,
}

/// A message's attachments, in order (the whole message is parsed: for one message a
/// person opened, never for a mailbox).
pub fn attachments(raw: &[u8]) -> Vec<Attachment> {
    let parsed = std::panic::catch_unwind(|| {
        let Some(message) = MessageParser::default().parse(raw) else {
            return Vec::new();
        };
        message
            .attachments()
            .enumerate()
            .map(|(n, part)| Attachment {
                name: part
                    .attachment_name()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("attachment-{}", n + 1)),
                content_type: part
                    .content_type()
                    .map(|t| match t.subtype() {
                        Some(sub) => format!("{}/{sub}", t.ctype()),
                        None => t.ctype().to_string(),
                    })
                    .unwrap_or_else(|| "application/octet-stream".into()),
                contents: part.contents().to_vec(),
            })
            .collect()
    });
    parsed.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarizes_a_plain_message() {
        let raw = b"From: Alice <alice@example.com>\r\nTo: bob@example.com, Carol <c@example.com>\r\nSubject: =?UTF-8?B?SMOpbGxv?=\r\nDate: Wed, 25 Nov 2026 17:00:00 +0100\r\nMessage-ID: <m1@example.com>\r\n\r\nHi\r\n";
        let s = Summary::of(raw);
        assert!(s.parsed);
        assert_eq!(s.from.as_deref(), Some("Alice <alice@example.com>"));
        assert_eq!(s.to, ["bob@example.com", "Carol <c@example.com>"]);
        assert_eq!(s.subject.as_deref(), Some("Héllo"));
        assert_eq!(s.date.as_deref(), Some("2026-11-25T16:00:00Z"));
        assert_eq!(s.message_id.as_deref(), Some("m1@example.com"));
        assert_eq!(text_of(raw).trim(), "Hi");
    }

    #[test]
    fn garbage_is_marked_unparsed() {
        assert!(!Summary::of(b"").parsed);
        assert!(!Summary::of(b"\x00\x01\x02 no headers here").parsed);
    }

    #[test]
    fn counts_attachments() {
        let raw = b"From: a@b\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nbody\r\n--XX\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\nJVBERi0=\r\n--XX--\r\n";
        assert_eq!(Summary::of(raw).attachments, 1);
    }
}
