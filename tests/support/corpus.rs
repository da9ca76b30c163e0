//! Varied sample messages with CRLF line ends: plain, HTML, attachments, non-ASCII headers,
//! lines that start with dots (POP3 dot-stuffing), and a message without headers.

/// The `i`-th sample message (deterministic).
pub fn sample(i: usize) -> Vec<u8> {
    let kind = i % 6;
    let head = format!(
        "From: Sender {i} <sender{i}@example.com>\r\nTo: Helpdesk <helpdesk@example.com>\r\nDate: Wed, 25 Nov 2026 10:{:02}:00 +0000\r\nMessage-ID: <sample-{i}@example.com>\r\n",
        i % 60
    );
    let body = match kind {
        0 => format!(
            "{head}Subject: Plain message {i}\r\n\r\nHello,\r\nthis is message {i}.\r\n.\r\n..two dots\r\n.leading dot\r\n"
        ),
        1 => format!(
            "{head}Subject: =?UTF-8?B?{}?=\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln, Nachricht {i}. 日本語\r\n",
            base64(format!("Grüße Nr. {i} – naïve café").as_bytes())
        ),
        2 => format!(
            "{head}Subject: HTML {i}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"alt{i}\"\r\n\r\n--alt{i}\r\nContent-Type: text/plain\r\n\r\nPlain part {i}\r\n--alt{i}\r\nContent-Type: text/html\r\n\r\n<html><body><p>HTML part <b>{i}</b></p></body></html>\r\n--alt{i}--\r\n"
        ),
        3 => format!(
            "{head}Subject: Attachment {i}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"mix{i}\"\r\n\r\n--mix{i}\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--mix{i}\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"data{i}.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--mix{i}--\r\n",
            wrap(&base64(
                &(0..3000u32)
                    .map(|b| (b.wrapping_mul(31).wrapping_add(i as u32)) as u8)
                    .collect::<Vec<_>>()
            ))
        ),
        4 => format!(
            "{head}Subject: Long lines {i}\r\n\r\n{}\r\n",
            "x".repeat(1500)
        ),
        _ => format!("no headers at all in sample {i}\r\njust text\r\n"),
    };
    body.into_bytes()
}

fn wrap(text: &str) -> String {
    text.as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(T[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
