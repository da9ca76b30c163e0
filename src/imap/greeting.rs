//! The plaintext start of an IMAP connection, read byte by byte so that nothing beyond the
//! server's answer is consumed: the greeting, and STARTTLS with its injection check
//! (bytes after the tagged OK, before the handshake, are an attack: RFC 3207 section 5).

use futures::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::{CheckError, Stage, describe_io};
use crate::text::excerpt;

/// Longest line accepted before TLS.
const MAX_LINE: usize = 4096;

/// Reads one CRLF-terminated line, byte by byte.
async fn read_line<S: AsyncRead + Unpin>(
    stream: &mut S,
    stage: Stage,
    what: &str,
) -> Result<String, CheckError> {
    let mut line = Vec::new();
    loop {
        let byte = stream
            .read_u8()
            .await
            .map_err(|e| CheckError::new(stage, format!("{what}: {}", describe_io(&e))))?;
        line.push(byte);
        if byte == b'\n' {
            return Ok(String::from_utf8_lossy(&line).trim_end().to_string());
        }
        if line.len() > MAX_LINE {
            return Err(CheckError::new(
                stage,
                format!("server line longer than {MAX_LINE} bytes"),
            ));
        }
    }
}

/// Reads the greeting; `* BYE` or anything but `* OK` / `* PREAUTH` is an error.
pub async fn read_greeting<S: AsyncRead + Unpin>(stream: &mut S) -> Result<String, CheckError> {
    let line = read_line(stream, Stage::Connect, "waiting for the IMAP greeting").await?;
    let upper = line.to_ascii_uppercase();
    if upper.starts_with("* OK") || upper.starts_with("* PREAUTH") {
        Ok(line)
    } else {
        Err(CheckError::new(
            Stage::Connect,
            format!("unexpected IMAP greeting `{}`", excerpt(&line)),
        ))
    }
}

/// The capabilities a greeting announces (`* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ...`);
/// empty when it announces none.
pub fn announced_capabilities(greeting: &str) -> Vec<String> {
    let upper = greeting.to_ascii_uppercase();
    let Some(start) = upper.find("[CAPABILITY ") else {
        return Vec::new();
    };
    let rest = &greeting[start + "[CAPABILITY ".len()..];
    let end = rest.find(']').unwrap_or(rest.len());
    rest[..end].split_whitespace().map(str::to_string).collect()
}

/// Sends STARTTLS and waits for its OK; refuses a NO/BAD and any byte after the OK.
pub async fn starttls<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> Result<(), CheckError> {
    stream.write_all(b"s0 STARTTLS\r\n").await.map_err(|e| {
        CheckError::new(Stage::Tls, format!("sending STARTTLS: {}", describe_io(&e)))
    })?;
    stream.flush().await.map_err(|e| {
        CheckError::new(Stage::Tls, format!("sending STARTTLS: {}", describe_io(&e)))
    })?;
    loop {
        let line = read_line(stream, Stage::Tls, "waiting for the answer to STARTTLS").await?;
        if line.starts_with('*') {
            continue; // untagged data (e.g. a CAPABILITY) before the answer
        }
        let upper = line.to_ascii_uppercase();
        if !upper.starts_with("S0 ") {
            return Err(CheckError::new(
                Stage::Tls,
                format!("unexpected answer to STARTTLS `{}`", excerpt(&line)),
            ));
        }
        if !upper.starts_with("S0 OK") {
            return Err(CheckError::new(
                Stage::Tls,
                format!(
                    "the server refused STARTTLS: `{}` (use tls = \"implicit\" if it offers port 993)",
                    excerpt(&line)
                ),
            ));
        }
        break;
    }
    let mut probe = [0u8; 1];
    if let Some(Ok(n)) = stream.read(&mut probe).now_or_never()
        && n > 0
    {
        return Err(CheckError::new(
            Stage::Tls,
            "the server sent data after its STARTTLS answer, before the TLS handshake (possible injection attack); refusing",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(script: &[u8]) -> Result<(), CheckError> {
        let (mut client, mut server) = tokio::io::duplex(4096);
        server.write_all(script).await.unwrap();
        read_greeting(&mut client).await?;
        let r = starttls(&mut client).await;
        let mut sent = vec![0u8; 13];
        server.read_exact(&mut sent).await.unwrap();
        assert_eq!(sent, b"s0 STARTTLS\r\n");
        r
    }

    #[tokio::test]
    async fn starttls_ok() {
        run(b"* OK ready\r\ns0 OK Begin TLS\r\n").await.unwrap();
    }

    #[tokio::test]
    async fn starttls_refused_or_injected() {
        let e = run(b"* OK ready\r\ns0 NO nope\r\n").await.unwrap_err();
        assert!(e.message.contains("refused STARTTLS"), "{e}");
        let e = run(b"* OK ready\r\ns0 OK Begin TLS\r\n* OK injected\r\n")
            .await
            .unwrap_err();
        assert!(e.message.contains("injection"), "{e}");
        assert_eq!(e.stage, Stage::Tls);
    }

    #[test]
    fn greetings_announce_capabilities() {
        assert_eq!(
            announced_capabilities("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready"),
            ["IMAP4rev1", "SASL-IR", "AUTH=XOAUTH2"]
        );
        assert!(announced_capabilities("* OK ready").is_empty());
    }

    #[tokio::test]
    async fn bye_greeting_is_an_error() {
        let (mut client, mut server) = tokio::io::duplex(4096);
        server
            .write_all(b"* BYE too many connections\r\n")
            .await
            .unwrap();
        let e = read_greeting(&mut client).await.unwrap_err();
        assert!(e.message.contains("BYE"));
    }
}
