//! Shortening text for people: a server's line quoted in an error, a report's table cell, a
//! header value kept in a summary. One function per purpose, named for it.

/// Characters of a server's answer quoted in an error message.
pub const EXCERPT_CHARS: usize = 120;

/// The start of a server's line, for quoting in an error message.
pub fn excerpt(text: &str) -> String {
    text.chars().take(EXCERPT_CHARS).collect()
}

/// The start of a server's bytes (not necessarily UTF-8), for quoting in an error message.
pub fn excerpt_bytes(bytes: &[u8]) -> String {
    excerpt(&String::from_utf8_lossy(
        &bytes[..bytes.len().min(EXCERPT_CHARS * 4)],
    ))
}

/// A table cell of at most `width` characters: control characters dropped, and an ellipsis
/// where the text was cut.
pub fn cell(text: &str, width: usize) -> String {
    let text: String = text.chars().filter(|c| !c.is_control()).collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_shortening_does_its_own_thing() {
        let long = "é".repeat(200);
        assert_eq!(excerpt(&long).chars().count(), EXCERPT_CHARS);
        assert_eq!(excerpt_bytes(b"\xffok").chars().count(), 3);
        assert_eq!(cell("ab\x1bcdef", 4), "abc…");
        assert_eq!(cell("abc", 4), "abc");
        assert_eq!(truncate_bytes("aé", 2), "a");
        assert_eq!(truncate_bytes("abc", 5), "abc");
    }
}
