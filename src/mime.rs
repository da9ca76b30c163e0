//! A structural walk over MIME parts that counts attachments without decoding any body:
//! only part headers are read and boundaries located, so a message with large base64
//! attachments costs a scan, not a decode.

/// Deepest multipart nesting followed; deeper parts are not counted.
const MAX_DEPTH: usize = 32;

/// How many attachments a message has: leaf parts marked `attachment`, or carrying a
/// non-text type (images, PDFs, attached messages), below the top level.
pub fn count_attachments(raw: &[u8]) -> u32 {
    walk(raw, 0)
}

fn walk(part: &[u8], depth: usize) -> u32 {
    let (head, body) = split_head(part);
    let content_type = header(head, b"content-type").unwrap_or_default();
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let disposition = header(head, b"content-disposition")
        .unwrap_or_default()
        .to_ascii_lowercase();
    if mime.starts_with("multipart/") {
        let Some(boundary) = param(&content_type, "boundary") else {
            return 0;
        };
        if depth >= MAX_DEPTH {
            return 0;
        }
        return parts(body, boundary.as_bytes())
            .iter()
            .map(|p| walk(p, depth + 1))
            .sum();
    }
    if depth == 0 {
        return u32::from(disposition.starts_with("attachment"));
    }
    let is_text = mime.is_empty() || mime.starts_with("text/");
    u32::from(disposition.starts_with("attachment") || !is_text)
}

/// Splits a part at its first empty line into header block and body.
fn split_head(part: &[u8]) -> (&[u8], &[u8]) {
    if part.starts_with(b"\r\n") {
        return (&[], &part[2..]);
    }
    if part.starts_with(b"\n") {
        return (&[], &part[1..]);
    }
    for i in memchr::memchr_iter(b'\n', part) {
        let rest = &part[i + 1..];
        if rest.starts_with(b"\r\n") {
            return (&part[..i + 1], &rest[2..]);
        }
        if rest.starts_with(b"\n") {
            return (&part[..i + 1], &rest[1..]);
        }
    }
    (part, &[])
}

/// The unfolded value of the first header named `name` (lowercase), if any.
fn header(head: &[u8], name: &[u8]) -> Option<String> {
    let mut lines = head.split(|b| *b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        if !line[..colon].trim_ascii().eq_ignore_ascii_case(name) {
            continue;
        }
        let mut value = String::from_utf8_lossy(&line[colon + 1..]).into_owned();
        while let Some(next) = lines.peek() {
            if next.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                let next = lines.next().unwrap_or_default();
                value.push(' ');
                value.push_str(
                    String::from_utf8_lossy(next.strip_suffix(b"\r").unwrap_or(next)).trim(),
                );
            } else {
                break;
            }
        }
        return Some(value.trim().to_string());
    }
    None
}

/// A parameter of a header value, e.g. `boundary` of a Content-Type.
fn param(value: &str, name: &str) -> Option<String> {
    for piece in value.split(';').skip(1) {
        let Some((k, v)) = piece.split_once('=') else {
            continue;
        };
        if k.trim().eq_ignore_ascii_case(name) {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.split('"').next())
                .unwrap_or(v);
            return (!v.is_empty()).then(|| v.to_string());
        }
    }
    None
}

/// The parts of a multipart body: what lies between `--boundary` lines, up to `--boundary--`.
/// Delimiter candidates are found with a substring search, so a large base64 attachment
/// costs one vectorised scan instead of a line-by-line walk.
fn parts<'a>(body: &'a [u8], boundary: &[u8]) -> Vec<&'a [u8]> {
    let mut needle = Vec::with_capacity(boundary.len() + 2);
    needle.extend_from_slice(b"--");
    needle.extend_from_slice(boundary);
    let finder = memchr::memmem::Finder::new(&needle);
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut from = 0;
    while let Some(found) = finder.find(&body[from..]).map(|i| from + i) {
        let line_end = memchr::memchr(b'\n', &body[found..])
            .map(|i| found + i + 1)
            .unwrap_or(body.len());
        from = line_end;
        if found > 0 && body[found - 1] != b'\n' {
            continue;
        }
        // Only `--boundary` or `--boundary--` delimit: `--boundary1` is another boundary.
        let tail = body[found + needle.len()..line_end].trim_ascii_end();
        if tail.is_empty() || tail == b"--" {
            if let Some(s) = start {
                out.push(&body[s..found]);
            }
            if tail == b"--" {
                return out;
            }
            start = Some(line_end);
        }
    }
    if let Some(s) = start {
        out.push(&body[s..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn via_mail_parser(raw: &[u8]) -> u32 {
        mail_parser::MessageParser::default()
            .parse(raw)
            .map(|m| m.attachment_count() as u32)
            .unwrap_or(0)
    }

    #[test]
    fn agrees_with_a_full_parse() {
        let cases: [&[u8]; 5] = [
            b"From: a@b\r\nSubject: plain\r\n\r\nhello\r\n",
            b"From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nbody\r\n--XX\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\nJVBERi0=\r\n--XX--\r\n",
            b"From: a@b\r\nContent-Type: multipart/alternative; boundary=\"a b\"\r\n\r\n--a b\r\nContent-Type: text/plain\r\n\r\nx\r\n--a b\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--a b--\r\n",
            b"From: a@b\r\nContent-Type: multipart/mixed;\r\n boundary=outer\r\n\r\n--outer\r\nContent-Type: multipart/related; boundary=inner\r\n\r\n--inner\r\nContent-Type: text/html\r\n\r\n<img>\r\n--inner\r\nContent-Type: image/png\r\n\r\niVBOR\r\n--inner--\r\n--outer\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=x.csv\r\n\r\na,b\r\n--outer--\r\n",
            b"From: a@b\nContent-Type: multipart/mixed; boundary=LF\n\n--LF\nContent-Type: text/plain\n\nx\n--LF\nContent-Type: image/gif\n\nR0lG\n--LF--\n",
        ];
        for raw in cases {
            assert_eq!(
                count_attachments(raw),
                via_mail_parser(raw),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn an_unclosed_multipart_still_counts_its_parts() {
        let raw = b"From: a@b\r\nContent-Type: multipart/mixed; boundary=NEVER\r\n\r\n--NEVER\r\nContent-Type: text/plain\r\n\r\nno end\r\n--NEVER\r\nContent-Type: image/png\r\n\r\nx\r\n";
        assert_eq!(count_attachments(raw), 1);
    }

    #[test]
    fn boundaries_that_prefix_each_other_are_kept_apart() {
        // b1 is a prefix of b10: each level must see exactly its own delimiters (this case
        // once took exponential time).
        let mut body = "Content-Type: image/png\r\n\r\nx\r\n".to_string();
        for d in (0..60).rev() {
            body = format!(
                "Content-Type: multipart/mixed; boundary=\"b{d}\"\r\n\r\n--b{d}\r\n{body}\r\n--b{d}--\r\n"
            );
        }
        let started = std::time::Instant::now();
        assert_eq!(
            count_attachments(body.as_bytes()),
            0,
            "deeper than MAX_DEPTH"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let raw = b"Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: image/png\r\n\r\nx\r\n--b10\r\nnot a delimiter\r\n--b1\r\nContent-Type: text/plain\r\n\r\ny\r\n--b1--\r\n";
        assert_eq!(count_attachments(raw), 1);
    }

    #[test]
    fn deep_nesting_is_cut_off() {
        let mut body = "Content-Type: image/png\r\n\r\nx\r\n".to_string();
        for d in 0..100 {
            body = format!(
                "Content-Type: multipart/mixed; boundary=b{d}\r\n\r\n--b{d}\r\n{body}\r\n--b{d}--\r\n"
            );
        }
        assert_eq!(count_attachments(body.as_bytes()), 0);
    }
}
