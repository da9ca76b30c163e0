//! async-imap's errors in words for people. It keeps a server's NO or BAD answer only as
//! the debug print of imap-proto's values (`code: Some(ReadOnly), info: Some("...")`); this
//! module reads the server's response code and text back out of that print, so a report
//! says `the server answered NO: [READ-ONLY] Mailbox is read-only` instead.

use async_imap::error::Error;

use crate::text::printable_line;

/// What went wrong, in words.
pub fn describe(e: &Error) -> String {
    match e {
        Error::Io(io) if io.get_ref().is_some() && is_debug_print(&io.to_string()) => {
            format!("the server answered {}", server_words(&io.to_string()))
        }
        Error::Io(io) => describe_read(io),
        Error::ConnectionLost => "the server closed the connection".into(),
        Error::No(text) => format!("the server answered NO: {}", server_words(text)),
        Error::Bad(text) => format!("the server answered BAD: {}", server_words(text)),
        Error::Parse(_) => "the server's answer is not valid IMAP".into(),
        Error::Validate(v) => format!("a command argument cannot be sent to IMAP: {v}"),
        other => other.to_string(),
    }
}

/// An error reading the server's answers, in words. async-imap reports an answer its parser
/// cannot read as the parser's debug print and then the bytes; the words quote the start of
/// the bytes.
pub fn describe_read(io: &std::io::Error) -> String {
    let text = io.to_string();
    match text.split_once(" during parsing of ") {
        Some((_, bytes)) => {
            let first = bytes
                .trim_matches('"')
                .split("\\r\\n")
                .next()
                .unwrap_or_default();
            format!(
                "the server's answer is not valid IMAP: `{}`",
                crate::text::excerpt(first)
            )
        }
        None => crate::error::describe_io(io),
    }
}

/// True when `text` is one of async-imap's debug prints of a response.
fn is_debug_print(text: &str) -> bool {
    ["info: ", "information: ", "code: ", "outcome: "]
        .iter()
        .any(|k| text.contains(k))
}

/// The response code and text of a server's answer, from async-imap's debug print of it:
/// `[READ-ONLY] text`, `text`, or (when nothing can be read) that the server gave no reason.
pub fn server_words(print: &str) -> String {
    let code = code_in(print);
    let text = ["info: Some(\"", "information: Some(\""]
        .iter()
        .find_map(|k| print.find(k).map(|i| debug_string(&print[i + k.len()..])));
    let words = match (code, text) {
        (Some(c), Some(t)) => format!("[{c}] {t}"),
        (Some(c), None) => format!("[{c}]"),
        (None, Some(t)) => t,
        (None, None) if is_debug_print(print) => "no reason given".into(),
        (None, None) => print.to_string(),
    };
    printable_line(words.trim())
}

/// The IMAP response code named in `code: Some(Name...)`, as IMAP spells it.
fn code_in(print: &str) -> Option<String> {
    let at = print.find("code: Some(")? + "code: Some(".len();
    let name: String = print[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    Some(match name.as_str() {
        "" => return None,
        "ReadOnly" => "READ-ONLY".into(),
        "ReadWrite" => "READ-WRITE".into(),
        other => other.to_ascii_uppercase(),
    })
}

/// Reads a Rust debug string literal's content up to its closing quote.
fn debug_string(rest: &str) -> String {
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next() {
                Some('n') => out.push(' '),
                Some('t') => out.push(' '),
                Some('u') => {
                    let hex: String = chars
                        .by_ref()
                        .skip_while(|c| *c == '{')
                        .take_while(|c| *c != '}')
                        .collect();
                    if let Some(ch) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                        out.push(ch);
                    }
                }
                Some(other) => out.push(other),
                None => break,
            },
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_answers_read_as_words() {
        let io = std::io::Error::other(
            "Error(Error { input: [98], code: Tag }) during parsing of \"boom\\r\\n* 1 FETCH\"",
        );
        assert_eq!(
            describe_read(&io),
            "the server's answer is not valid IMAP: `boom`"
        );
    }

    #[test]
    fn answers_read_as_words() {
        assert_eq!(
            server_words(
                r#"code: None, info: Some("[AUTHENTICATIONFAILED] Authentication failed.")"#
            ),
            "[AUTHENTICATIONFAILED] Authentication failed."
        );
        assert_eq!(
            server_words(
                r#"outcome: Outcome { code: Some(ReadOnly), information: Some("Mailbox is \"read\" only") }"#
            ),
            r#"[READ-ONLY] Mailbox is "read" only"#
        );
        assert_eq!(server_words("code: None, info: None"), "no reason given");
        assert_eq!(
            server_words(r#"code: Some(UidNext(5)), info: Some("x\u{7}y")"#),
            "[UIDNEXT] xy"
        );
        let e = describe(&Error::No(
            r#"code: None, info: Some("[AUTHENTICATIONFAILED] Authentication failed.")"#.into(),
        ));
        assert_eq!(
            e,
            "the server answered NO: [AUTHENTICATIONFAILED] Authentication failed."
        );
    }
}
