//! Text for people: a server's line quoted in an error, a report's table cell, a header
//! value kept in a summary, shortened; and text a server or a sender controls made safe for
//! a terminal (no control characters, no escape sequences). One function per purpose,
//! named for it.

/// Characters of a server's answer quoted in an error message.
pub const EXCERPT_CHARS: usize = 120;

/// The start of a server's line, for quoting in an error message (printable, one line).
pub fn excerpt(text: &str) -> String {
    printable_line(&text.chars().take(EXCERPT_CHARS * 2).collect::<String>())
        .chars()
        .take(EXCERPT_CHARS)
        .collect()
}

/// The start of a server's bytes (not necessarily UTF-8), for quoting in an error message.
pub fn excerpt_bytes(bytes: &[u8]) -> String {
    excerpt(&String::from_utf8_lossy(
        &bytes[..bytes.len().min(EXCERPT_CHARS * 4)],
    ))
}

/// A table cell of at most `width` characters: printable, one line, and an ellipsis where
/// the text was cut.
pub fn cell(text: &str, width: usize) -> String {
    let text = printable_line(text);
    if text.chars().count() <= width {
        text
    } else {
        let kept: String = text.chars().take(width.saturating_sub(1)).collect();
        format!("{kept}…")
    }
}

/// At most `max` bytes of `text`, cut at a character boundary.
pub fn truncate_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// `text` without what a terminal would act on: escape sequences (CSI, OSC, DCS and the
/// like, in their 7-bit and 8-bit forms) are removed, other control characters too, but
/// line feeds and tabs are kept.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                Some('[') => skip_csi(&mut chars),
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut chars),
                _ => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\n' | '\t' => out.push(c),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// [`printable`], on one line: line feeds and tabs become spaces.
pub fn printable_line(text: &str) -> String {
    printable(text)
        .chars()
        .map(|c| if c == '\n' || c == '\t' { ' ' } else { c })
        .collect()
}

/// Skips the rest of a control sequence: parameter and intermediate bytes, then one final.
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) || !('\u{20}'..='\u{7e}').contains(&c) {
            return;
        }
    }
}

/// Skips a control string (OSC, DCS, ...) up to its terminator: BEL, ST or ESC `\`.
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_shortening_does_its_own_thing() {
        let long = "é".repeat(200);
        assert_eq!(excerpt(&long).chars().count(), EXCERPT_CHARS);
        assert_eq!(excerpt_bytes(b"\xffok").chars().count(), 3);
        assert_eq!(cell("ab\x07cdef", 4), "abc…");
        assert_eq!(cell("abc", 4), "abc");
        assert_eq!(truncate_bytes("aé", 2), "a");
        assert_eq!(truncate_bytes("abc", 5), "abc");
    }

    #[test]
    fn escape_sequences_and_controls_are_removed() {
        assert_eq!(printable("a\u{1b}[31mred\u{1b}[0m b"), "ared b");
        assert_eq!(printable("\u{1b}]0;title\u{7}x"), "x");
        assert_eq!(
            printable("\u{1b}]8;;http://e\u{1b}\\link\u{1b}]8;;\u{1b}\\"),
            "link"
        );
        assert_eq!(printable("\u{9b}2Jcleared\u{7}\u{8}"), "cleared");
        assert_eq!(printable("line\r\nnext\ttab"), "line\nnext\ttab");
        assert_eq!(printable_line("line\nnext"), "line next");
        assert_eq!(printable("Grüße"), "Grüße");
    }
}
