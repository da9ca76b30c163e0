//! Commands whose answers mail-ingest reads itself: the listing (`UID FETCH ... (UID
//! RFC822.SIZE)`), `UID STORE` and `UID EXPUNGE`. async-imap's streams for these end at the
//! tagged answer without looking at it, so a `NO` would pass for success (a refused delete
//! recorded as done, a refused listing read as an empty mailbox); here the tagged answer
//! decides.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use super::wire::{bye, literal_len, read_line};
use crate::error::{CheckError, Stage, describe_io};
use crate::text::{excerpt, excerpt_bytes};

/// How the server answered a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Done.
    Ok,
    /// Refused (`NO`), with the server's text.
    No(String),
    /// Not understood or not allowed (`BAD`), with the server's text.
    Bad(String),
}

impl Status {
    /// A tagged answer as async-imap's parser gives it.
    pub fn of(status: &async_imap::imap_proto::Status, text: Option<&str>) -> Status {
        use async_imap::imap_proto::Status as S;
        let text = excerpt(text.unwrap_or_default());
        match status {
            S::Ok => Status::Ok,
            S::No => Status::No(text),
            _ => Status::Bad(text),
        }
    }

    /// The refusal in words, or `None` for OK.
    pub fn refusal(&self) -> Option<String> {
        match self {
            Status::Ok => None,
            Status::No(text) => Some(format!("the server answered NO: {text}")),
            Status::Bad(text) => Some(format!("the server answered BAD: {text}")),
        }
    }
}

/// Sends `tag command` and reads its answer: each untagged line (a literal in it read and
/// dropped) goes to `untagged`; the tagged status line ends it.
pub async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    tag: &str,
    command: &str,
    mut untagged: impl FnMut(&[u8]) -> Result<(), CheckError>,
) -> Result<Status, CheckError> {
    let name: String = command.split(' ').take(2).collect::<Vec<_>>().join(" ");
    let io = |e: std::io::Error| {
        CheckError::new(Stage::Fetch, format!("{name} failed: {}", describe_io(&e)))
    };
    stream
        .write_all(format!("{tag} {command}\r\n").as_bytes())
        .await
        .map_err(io)?;
    stream.flush().await.map_err(io)?;
    let mut reader = BufReader::with_capacity(16 << 10, stream);
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        read_line(&mut reader, &mut line, &name).await?;
        if let Some(rest) = line
            .strip_prefix(tag.as_bytes())
            .and_then(|r| r.strip_prefix(b" "))
        {
            return Ok(status(rest));
        }
        if let Some(ended) = bye(&line, Stage::Fetch) {
            return Err(ended);
        }
        if !line.starts_with(b"* ") {
            return Err(CheckError::new(
                Stage::Fetch,
                format!(
                    "{name} failed: unexpected answer `{}`",
                    excerpt_bytes(&line)
                ),
            ));
        }
        // Literals in untagged data (not asked for): skipped, the line read on.
        while let Some(len) = literal_len(&line) {
            tokio::io::copy(&mut (&mut reader).take(len), &mut tokio::io::sink())
                .await
                .map_err(io)?;
            let mut more = Vec::new();
            read_line(&mut reader, &mut more, &name).await?;
            line.extend_from_slice(&more);
        }
        untagged(&line)?;
    }
}

/// The status of a tagged line's rest: `OK ...`, `NO text`, `BAD text`.
fn status(rest: &[u8]) -> Status {
    let word_end = rest.iter().position(|b| *b == b' ').unwrap_or(rest.len());
    let text = excerpt_bytes(rest.get(word_end + 1..).unwrap_or_default());
    match rest[..word_end].to_ascii_uppercase().as_slice() {
        b"OK" => Status::Ok,
        b"NO" => Status::No(text),
        _ => Status::Bad(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(script: &[u8]) -> (Result<Status, CheckError>, Vec<Vec<u8>>, Vec<u8>) {
        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        server.write_all(script).await.unwrap();
        server.shutdown().await.unwrap();
        let mut lines = Vec::new();
        let status = run(
            &mut client,
            "c1",
            "UID STORE 1:3 +FLAGS.SILENT (\\Deleted)",
            |l| {
                lines.push(l.to_vec());
                Ok(())
            },
        )
        .await;
        drop(client);
        let mut sent = Vec::new();
        server.read_to_end(&mut sent).await.unwrap();
        (status, lines, sent)
    }

    #[tokio::test]
    async fn the_tagged_answer_decides() {
        let (status, lines, sent) =
            answer(b"* 1 FETCH (FLAGS (x) BODY[] {3}\r\nabc)\r\nc1 OK done\r\n").await;
        assert_eq!(status.unwrap(), Status::Ok);
        assert_eq!(lines, [b"* 1 FETCH (FLAGS (x) BODY[] {3})".to_vec()]);
        assert_eq!(sent, b"c1 UID STORE 1:3 +FLAGS.SILENT (\\Deleted)\r\n");
        let (status, _, _) = answer(b"c1 NO [READ-ONLY] mailbox is read-only\r\n").await;
        assert_eq!(
            status.unwrap().refusal().unwrap(),
            "the server answered NO: [READ-ONLY] mailbox is read-only"
        );
        let (status, _, _) = answer(b"c1 BAD line too long\r\n").await;
        assert!(matches!(status.unwrap(), Status::Bad(t) if t == "line too long"));
        let (status, _, _) = answer(b"garbage\r\n").await;
        assert!(status.unwrap_err().message.contains("unexpected answer"));
        let (status, _, _) = answer(b"* 1 EXPUNGE\r\n").await;
        assert!(
            status
                .unwrap_err()
                .message
                .contains("closed the connection")
        );
    }
}
