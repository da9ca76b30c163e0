//! Scripted fake IMAP and POP3 servers for what a real server will not do: each keeps a
//! small mailbox, answers the commands mail-ingest sends, and can corrupt one chosen answer
//! (or behave oddly throughout) as a test asks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A message on a fake server.
#[derive(Clone, Debug)]
pub struct FakeMessage {
    pub uid: u32,
    pub uidl: String,
    pub bytes: Vec<u8>,
    pub deleted: bool,
}

/// How a fake server misbehaves.
#[derive(Clone, Debug, Default)]
pub struct Quirks {
    /// Replace the `n`-th answer (counted over the whole connection) with these bytes.
    pub corrupt_answer: Option<(usize, Vec<u8>)>,
    /// Close the connection instead of sending the `n`-th answer's tail (after `keep` bytes).
    pub truncate_answer: Option<(usize, usize)>,
    /// Never send the greeting.
    pub no_greeting: bool,
    /// Stop sending in the middle of the first message body.
    pub stall_in_body: bool,
    /// IMAP: leave UIDPLUS out of the capabilities.
    pub no_uidplus: bool,
    /// POP3: answer UIDL with -ERR.
    pub no_uidl: bool,
    /// POP3: answer PASS with this -ERR text.
    pub pass_error: Option<String>,
    /// POP3: carry out QUIT (make DELEs final) but never answer it.
    pub silent_quit: bool,
    /// STARTTLS/STLS: refuse, or accept and then send these bytes at once.
    pub starttls_refused: bool,
    pub starttls_inject: Option<Vec<u8>>,
    /// IMAP: announce this literal size for the first body instead of the real one, then
    /// send that many bytes.
    pub huge_literal: Option<u64>,
    /// IMAP: send message bodies one byte at a time, this long apart.
    pub trickle: Option<Duration>,
    /// Answer this command (`CAPA`, `LIST`, `UIDL`, `CAPABILITY`, `SELECT`, `LOGIN`, ...) with
    /// a flood of this many bytes: POP3 as a multi-line answer of 4,000-byte lines (of valid
    /// entries for LIST and UIDL), IMAP as one untagged line that never ends.
    pub flood: Option<(String, usize)>,
    /// POP3: offer UTF8 (RFC 6856) and, to a client that did not say UTF8, send every body
    /// with one more line than LIST announced (as a server down-converting 8-bit headers).
    pub utf8_downgrade: bool,
    /// IMAP: answer the listing (`UID FETCH` without a body) with `NO`.
    pub listing_refused: bool,
    /// IMAP: answer UID STORE with `NO` and this text (a read-only mailbox).
    pub store_refused: Option<String>,
    /// IMAP: answer a command line longer than this with `BAD`.
    pub max_line: Option<usize>,
    /// POP3: answer DELE of the message with this UID with -ERR.
    pub dele_refused: Option<u32>,
    /// POP3: send the message with this UID (the Nth of the fake's first listing) with a line
    /// more than LIST announced.
    pub wrong_size: Option<u32>,
    /// POP3: end the session at a RETR of a message the maildrop does not hold (a server
    /// stricter about failed commands than Dovecot, which allows 20 in a row).
    pub ends_on_missing_retr: bool,
    /// IMAP: once this many bodies were sent (over all connections), end the session with
    /// `* BYE` and these words, once (as Microsoft does when a token expires mid-session).
    pub bye_after_bodies: Option<(usize, String)>,
}

/// The shared state of a fake server.
#[derive(Debug, Default)]
pub struct FakeState {
    pub messages: Vec<FakeMessage>,
    pub uidvalidity: u32,
    pub quirks: Quirks,
    /// Every command line received, in order.
    pub commands: Vec<String>,
    /// IMAP: message bodies sent so far, and whether the scripted BYE was sent.
    pub bodies_sent: usize,
    pub bye_sent: bool,
    /// IMAP: the bearer tokens AUTHENTICATE XOAUTH2 carried, in order.
    pub tokens: Vec<String>,
}

pub type Shared = Arc<Mutex<FakeState>>;

/// A fake server on a loopback port.
pub struct FakeServer {
    pub port: u16,
    pub state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Imap,
    Pop3,
}

impl FakeServer {
    pub async fn start(kind: Kind, messages: Vec<Vec<u8>>) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state: Shared = Arc::new(Mutex::new(FakeState {
            messages: messages
                .into_iter()
                .enumerate()
                .map(|(i, bytes)| FakeMessage {
                    uid: i as u32 + 1,
                    uidl: format!("uidl-{}", i + 1),
                    bytes,
                    deleted: false,
                })
                .collect(),
            uidvalidity: 1,
            ..Default::default()
        }));
        let st = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let st = st.clone();
                tokio::spawn(async move {
                    let _ = match kind {
                        Kind::Imap => imap_session(sock, st).await,
                        Kind::Pop3 => pop3_session(sock, st).await,
                    };
                });
            }
        });
        FakeServer { port, state, task }
    }

    pub fn set_quirks(&self, q: Quirks) {
        self.state.lock().unwrap().quirks = q;
    }

    pub fn commands(&self) -> Vec<String> {
        self.state.lock().unwrap().commands.clone()
    }

    pub fn live_messages(&self) -> usize {
        self.state
            .lock()
            .unwrap()
            .messages
            .iter()
            .filter(|m| !m.deleted)
            .count()
    }
}

/// Writes answers, applying the corruption quirks by answer number.
struct Writer {
    sock: tokio::io::WriteHalf<TcpStream>,
    answers: usize,
    quirks: Quirks,
}

impl Writer {
    /// Sends one answer; `Err` once the quirk closed the connection.
    async fn answer(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let n = self.answers;
        self.answers += 1;
        if let Some((at, replacement)) = &self.quirks.corrupt_answer
            && *at == n
        {
            return self.sock.write_all(replacement).await;
        }
        if let Some((at, keep)) = self.quirks.truncate_answer
            && at == n
        {
            let _ = self.sock.write_all(&bytes[..keep.min(bytes.len())]).await;
            let _ = self.sock.shutdown().await;
            return Err(std::io::Error::other("truncated on purpose"));
        }
        self.sock.write_all(bytes).await
    }
}

async fn read_command<R: AsyncBufReadExt + Unpin>(r: &mut R, state: &Shared) -> Option<String> {
    let mut line = String::new();
    match r.read_line(&mut line).await {
        Ok(0) | Err(_) => None,
        Ok(_) => {
            let line = line.trim_end().to_string();
            state.lock().unwrap().commands.push(line.clone());
            Some(line)
        }
    }
}

fn stall() -> impl std::future::Future<Output = ()> {
    tokio::time::sleep(Duration::from_secs(3600))
}

/// A connection's start: the server's quirks, a reader, a writer, and the greeting sent
/// (or never, for `no_greeting`).
async fn open_session(
    sock: TcpStream,
    state: &Shared,
    greeting: &[u8],
) -> std::io::Result<(BufReader<tokio::io::ReadHalf<TcpStream>>, Writer, Quirks)> {
    let quirks = state.lock().unwrap().quirks.clone();
    if quirks.no_greeting {
        stall().await;
    }
    let (r, w) = tokio::io::split(sock);
    let mut w = Writer {
        sock: w,
        answers: 0,
        quirks: quirks.clone(),
    };
    w.answer(greeting).await?;
    Ok((BufReader::new(r), w, quirks))
}

async fn pop3_session(sock: TcpStream, state: Shared) -> std::io::Result<()> {
    let (mut r, mut w, quirks) = open_session(sock, &state, b"+OK fake POP3 ready\r\n").await?;
    let mut dele: Vec<u32> = Vec::new();
    let mut utf8 = false;
    while let Some(line) = read_command(&mut r, &state).await {
        let mut parts = line.split_whitespace();
        let cmd = parts.next().unwrap_or("").to_ascii_uppercase();
        let arg: Option<u32> = parts.next().and_then(|a| a.parse().ok());
        let live: Vec<FakeMessage> = state
            .lock()
            .unwrap()
            .messages
            .iter()
            .filter(|m| !m.deleted)
            .cloned()
            .collect();
        if let Some((on, bytes)) = &quirks.flood
            && *on == cmd
        {
            w.answer(b"+OK here it comes\r\n").await?;
            // Listings flood with lines that parse, so only the byte budget can stop them.
            let line: &[u8] = match cmd.as_str() {
                "LIST" => b"1 120\r\n",
                "UIDL" => b"1 uidl-1\r\n",
                _ => b"",
            };
            if line.is_empty() {
                flood(&mut w, *bytes, b"\r\n").await?;
            } else {
                let lines = line.repeat(4096);
                let mut sent = 0;
                while sent < *bytes {
                    w.sock.write_all(&lines).await?;
                    sent += lines.len();
                }
            }
            w.sock.write_all(b".\r\n").await?;
            continue;
        }
        let answer: Vec<u8> = match cmd.as_str() {
            "CAPA" => {
                let uidl = if quirks.no_uidl { "" } else { "UIDL\r\n" };
                let utf8 = if quirks.utf8_downgrade {
                    "UTF8\r\n"
                } else {
                    ""
                };
                format!("+OK\r\nUSER\r\n{uidl}{utf8}PIPELINING\r\nSTLS\r\n.\r\n").into_bytes()
            }
            "UTF8" if quirks.utf8_downgrade => {
                utf8 = true;
                b"+OK UTF8 enabled\r\n".to_vec()
            }
            "STLS" if quirks.starttls_refused => b"-ERR not today\r\n".to_vec(),
            "STLS" => {
                let mut a = b"+OK begin TLS\r\n".to_vec();
                a.extend(quirks.starttls_inject.clone().unwrap_or_default());
                a
            }
            "USER" => b"+OK\r\n".to_vec(),
            "PASS" => match &quirks.pass_error {
                Some(e) => format!("-ERR {e}\r\n").into_bytes(),
                None => b"+OK logged in\r\n".to_vec(),
            },
            "STAT" => format!(
                "+OK {} {}\r\n",
                live.len(),
                live.iter().map(|m| m.bytes.len()).sum::<usize>()
            )
            .into_bytes(),
            "LIST" => {
                let mut a = b"+OK\r\n".to_vec();
                for (i, m) in live.iter().enumerate() {
                    a.extend(format!("{} {}\r\n", i + 1, m.bytes.len()).into_bytes());
                }
                a.extend(b".\r\n");
                a
            }
            "UIDL" if quirks.no_uidl => b"-ERR no UIDL here\r\n".to_vec(),
            "UIDL" => {
                let mut a = b"+OK\r\n".to_vec();
                for (i, m) in live.iter().enumerate() {
                    a.extend(format!("{} {}\r\n", i + 1, m.uidl).into_bytes());
                }
                a.extend(b".\r\n");
                a
            }
            "RETR" => match arg.and_then(|n| live.get(n as usize - 1)) {
                Some(m) => {
                    let mut a = format!("+OK {} octets\r\n", m.bytes.len()).into_bytes();
                    let mut body = stuff(&m.bytes);
                    if (quirks.utf8_downgrade && !utf8) || quirks.wrong_size == Some(m.uid) {
                        body.extend(b"X-Downgraded: yes\r\n");
                    }
                    if quirks.stall_in_body {
                        a.extend(&body[..body.len() / 2]);
                        w.answer(&a).await?;
                        stall().await;
                    }
                    a.extend(body);
                    a.extend(b".\r\n");
                    a
                }
                None if quirks.ends_on_missing_retr => {
                    // Ends its side, then reads what the client had pipelined (closing
                    // with input unread would reset the connection instead).
                    w.answer(b"-ERR no such message, goodbye\r\n").await?;
                    w.sock.shutdown().await?;
                    let mut rest = Vec::new();
                    let _ = tokio::time::timeout(
                        Duration::from_secs(2),
                        tokio::io::AsyncReadExt::read_to_end(&mut r, &mut rest),
                    )
                    .await;
                    return Ok(());
                }
                None => b"-ERR no such message\r\n".to_vec(),
            },
            "DELE" => match arg {
                Some(n)
                    if (n as usize) <= live.len()
                        && quirks.dele_refused == Some(live[n as usize - 1].uid) =>
                {
                    b"-ERR [SYS/PERM] you may not delete this one\r\n".to_vec()
                }
                Some(n) if (n as usize) <= live.len() => {
                    dele.push(live[n as usize - 1].uid);
                    b"+OK deleted\r\n".to_vec()
                }
                _ => b"-ERR no such message\r\n".to_vec(),
            },
            "QUIT" => {
                {
                    let mut st = state.lock().unwrap();
                    for m in st.messages.iter_mut() {
                        if dele.contains(&m.uid) {
                            m.deleted = true;
                        }
                    }
                }
                if quirks.silent_quit {
                    stall().await;
                }
                w.answer(b"+OK bye\r\n").await?;
                return Ok(());
            }
            _ => b"-ERR unknown command\r\n".to_vec(),
        };
        w.answer(&answer).await?;
    }
    Ok(())
}

/// Writes `bytes` of 'A's in 4,000-byte pieces, each followed by `separator`; stops quietly
/// when the client hangs up.
async fn flood(w: &mut Writer, bytes: usize, separator: &[u8]) -> std::io::Result<()> {
    let mut piece = vec![b'A'; 4000];
    piece.extend_from_slice(separator);
    let mut sent = 0;
    while sent < bytes {
        w.sock.write_all(&piece).await?;
        sent += piece.len();
    }
    Ok(())
}

/// Dot-stuffs a body for RETR, ending it with CRLF.
fn stuff(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 16);
    let mut at_line_start = true;
    for &b in bytes {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend(b"\r\n");
    }
    out
}

async fn imap_session(sock: TcpStream, state: Shared) -> std::io::Result<()> {
    let (mut r, mut w, quirks) = open_session(sock, &state, b"* OK fake IMAP ready\r\n").await?;
    let mut selected = false;
    while let Some(line) = read_command(&mut r, &state).await {
        let mut parts = line.splitn(3, ' ');
        let tag = parts.next().unwrap_or("*").to_string();
        let cmd = parts.next().unwrap_or("").to_ascii_uppercase();
        let rest = parts.next().unwrap_or("").to_string();
        if quirks.max_line.is_some_and(|max| line.len() > max) {
            w.answer(format!("{tag} BAD command line too long\r\n").as_bytes())
                .await?;
            continue;
        }
        let (uidvalidity, live): (u32, Vec<FakeMessage>) = {
            let st = state.lock().unwrap();
            (
                st.uidvalidity,
                st.messages.iter().filter(|m| !m.deleted).cloned().collect(),
            )
        };
        if let Some((on, bytes)) = &quirks.flood
            && *on == cmd
        {
            w.answer(b"* OK ").await?;
            flood(&mut w, *bytes, b"").await?;
            w.sock
                .write_all(format!("\r\n{tag} OK\r\n").as_bytes())
                .await?;
            continue;
        }
        let answer: Vec<u8> = match cmd.as_str() {
            "STARTTLS" if quirks.starttls_refused => format!("{tag} NO not today\r\n").into_bytes(),
            "STARTTLS" => {
                let mut a = format!("{tag} OK begin TLS\r\n").into_bytes();
                a.extend(quirks.starttls_inject.clone().unwrap_or_default());
                a
            }
            "CAPABILITY" => {
                let plus = if quirks.no_uidplus { "" } else { " UIDPLUS" };
                format!(
                    "* CAPABILITY IMAP4rev1 IDLE SASL-IR AUTH=XOAUTH2{plus}\r\n{tag} OK done\r\n"
                )
                .into_bytes()
            }
            "LOGIN" => format!("{tag} OK logged in\r\n").into_bytes(),
            "AUTHENTICATE" => {
                // `XOAUTH2 <base64 of user=U^Aauth=Bearer T^A^A>`, with SASL-IR.
                use base64::Engine;
                let encoded = rest.split_whitespace().nth(1).unwrap_or("");
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .unwrap_or_default();
                let text = String::from_utf8_lossy(&decoded);
                let token = text
                    .split('\x01')
                    .find_map(|p| p.strip_prefix("auth=Bearer "))
                    .unwrap_or("")
                    .to_string();
                state.lock().unwrap().tokens.push(token);
                format!("{tag} OK authenticated\r\n").into_bytes()
            }
            "SELECT" => {
                selected = true;
                let next = live.iter().map(|m| m.uid).max().unwrap_or(0) + 1;
                format!("* {} EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY {uidvalidity}] ok\r\n* OK [UIDNEXT {next}] ok\r\n* FLAGS (\\Deleted \\Seen)\r\n{tag} OK [READ-WRITE] selected\r\n", live.len()).into_bytes()
            }
            "UID" if selected => imap_uid(&tag, &rest, &live, &state, &quirks, &mut w).await?,
            "EXPUNGE" => {
                // Never expected: it would remove other clients' deleted messages too.
                format!("{tag} OK expunged\r\n").into_bytes()
            }
            "NOOP" => format!("{tag} OK\r\n").into_bytes(),
            "LOGOUT" => {
                w.answer(format!("* BYE bye\r\n{tag} OK\r\n").as_bytes())
                    .await?;
                return Ok(());
            }
            _ => format!("{tag} BAD unknown\r\n").into_bytes(),
        };
        w.answer(&answer).await?;
    }
    Ok(())
}

async fn imap_uid(
    tag: &str,
    rest: &str,
    live: &[FakeMessage],
    state: &Shared,
    quirks: &Quirks,
    w: &mut Writer,
) -> std::io::Result<Vec<u8>> {
    let mut parts = rest.splitn(3, ' ');
    let sub = parts.next().unwrap_or("").to_ascii_uppercase();
    let set = parts.next().unwrap_or("");
    let items = parts.next().unwrap_or("");
    let wanted = |uid: u32| in_set(set, uid);
    let mut a = Vec::new();
    match sub.as_str() {
        "FETCH" if quirks.listing_refused && !items.contains("BODY") => {
            return Ok(format!("{tag} NO [UNAVAILABLE] try later\r\n").into_bytes());
        }
        "FETCH" => {
            let with_body = items.contains("BODY");
            for (i, m) in live.iter().enumerate().filter(|(_, m)| wanted(m.uid)) {
                if with_body && let Some((after, words)) = &quirks.bye_after_bodies {
                    let bye = {
                        let mut st = state.lock().unwrap();
                        let bye = !st.bye_sent && st.bodies_sent >= *after;
                        st.bye_sent |= bye;
                        st.bodies_sent += 1;
                        bye
                    };
                    if bye {
                        a.extend(format!("* BYE {words}\r\n").into_bytes());
                        w.answer(&a).await?;
                        return Err(std::io::Error::other("session ended by the scripted BYE"));
                    }
                }
                if with_body {
                    let size = m.bytes.len();
                    if let Some(huge) = quirks.huge_literal {
                        let mut head = format!(
                            "* {} FETCH (UID {} RFC822.SIZE {size} BODY[] {{{huge}}}\r\n",
                            i + 1,
                            m.uid
                        )
                        .into_bytes();
                        w.answer(&head).await?;
                        head.clear();
                        let chunk = vec![b'A'; 64 * 1024];
                        let mut sent = 0u64;
                        while sent < huge {
                            w.sock.write_all(&chunk).await?;
                            sent += chunk.len() as u64;
                        }
                        return Ok(format!(")\r\n{tag} OK\r\n").into_bytes());
                    }
                    a.extend(
                        format!(
                            "* {} FETCH (UID {} RFC822.SIZE {size} BODY[] {{{size}}}\r\n",
                            i + 1,
                            m.uid
                        )
                        .into_bytes(),
                    );
                    if quirks.stall_in_body {
                        a.extend(&m.bytes[..size / 2]);
                        w.answer(&a).await?;
                        stall().await;
                    }
                    if let Some(pause) = quirks.trickle {
                        w.answer(&a).await?;
                        a.clear();
                        for byte in &m.bytes {
                            w.sock.write_all(std::slice::from_ref(byte)).await?;
                            tokio::time::sleep(pause).await;
                        }
                    } else {
                        a.extend(&m.bytes);
                    }
                    a.extend(b")\r\n");
                } else {
                    a.extend(
                        format!(
                            "* {} FETCH (UID {} RFC822.SIZE {})\r\n",
                            i + 1,
                            m.uid,
                            m.bytes.len()
                        )
                        .into_bytes(),
                    );
                }
            }
        }
        "STORE" if quirks.store_refused.is_some() => {
            let text = quirks.store_refused.clone().unwrap_or_default();
            return Ok(format!("{tag} NO {text}\r\n").into_bytes());
        }
        "STORE" => {
            state
                .lock()
                .unwrap()
                .commands
                .push(format!("flagged {set}"));
        }
        "EXPUNGE" => {
            let out = expunge(state, set);
            a.extend(out);
        }
        _ => return Ok(format!("{tag} BAD unknown UID command\r\n").into_bytes()),
    }
    a.extend(format!("{tag} OK done\r\n").into_bytes());
    Ok(a)
}

/// UID EXPUNGE of `set`: removes the flagged messages in it, answering their sequence numbers.
fn expunge(state: &Shared, set: &str) -> Vec<u8> {
    let mut st = state.lock().unwrap();
    let flagged_sets: Vec<String> = st
        .commands
        .iter()
        .filter_map(|c| c.strip_prefix("flagged ").map(String::from))
        .collect();
    let mut seq = 0;
    let mut out = Vec::new();
    for m in st.messages.iter_mut().filter(|m| !m.deleted) {
        seq += 1;
        if in_set(set, m.uid) && flagged_sets.iter().any(|s| in_set(s, m.uid)) {
            m.deleted = true;
            out.extend(format!("* {seq} EXPUNGE\r\n").into_bytes());
            seq -= 1;
        }
    }
    out
}

/// True when `uid` is in an IMAP set such as `1:3,7,9:*`.
pub fn in_set(set: &str, uid: u32) -> bool {
    set.split(',').any(|part| match part.split_once(':') {
        Some((a, b)) => {
            let lo: u32 = a.parse().unwrap_or(0);
            let hi: u32 = if b == "*" {
                u32::MAX
            } else {
                b.parse().unwrap_or(0)
            };
            (lo.min(hi)..=lo.max(hi)).contains(&uid)
        }
        None => part.parse() == Ok(uid),
    })
}

/// Reads all of a stream; for tests that need a raw peek.
pub async fn read_all(mut s: TcpStream) -> Vec<u8> {
    let mut v = Vec::new();
    let _ = s.read_to_end(&mut v).await;
    v
}
