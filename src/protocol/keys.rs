//! How a message on a server is keyed in the store, written down once: the key names the
//! message on its server, so the same message is never stored twice. (The store keeps the
//! listed size and a content hash beside the key, to tell a reused number apart.)

/// The key of an IMAP message: UIDVALIDITY and UID first, so a mailbox name with any
/// characters cannot collide with another.
pub fn imap_key(mailbox: &str, uidvalidity: u32, uid: u32) -> String {
    format!("imap:{uidvalidity}:{uid}:{mailbox}")
}

/// The key of a POP3 message, by its UIDL.
pub fn pop3_key(uidl: &str) -> String {
    format!("pop3:{uidl}")
}

/// The key of a POP3 message on a server without UIDL: its content, and how many messages
/// of the same content came before it in the session (so identical copies stay apart).
pub fn content_key(raw: &[u8], ordinal: u32) -> String {
    format!("pop3-content:{}:{ordinal}", blake3::hash(raw).to_hex())
}

/// Numbers messages of the same content in one session, for [`content_key`].
#[derive(Debug, Default)]
pub struct ContentOrdinals(std::collections::HashMap<[u8; 32], u32>);

impl ContentOrdinals {
    /// The key of the next message with these bytes.
    pub fn key(&mut self, raw: &[u8]) -> String {
        let hash = *blake3::hash(raw).as_bytes();
        let n = self.0.entry(hash).or_insert(0);
        let key = content_key(raw, *n);
        *n += 1;
        key
    }
}

/// The UIDVALIDITY an IMAP key was stored under, for telling epochs apart.
pub fn imap_key_uidvalidity(key: &str) -> Option<u32> {
    key.strip_prefix("imap:")?.split(':').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unambiguous() {
        assert_eq!(imap_key("INBOX", 7, 42), "imap:7:42:INBOX");
        assert_ne!(imap_key("a:1", 2, 3), imap_key("a", 1, 23));
        assert_eq!(imap_key_uidvalidity(&imap_key("x:y", 9, 1)), Some(9));
        assert_eq!(imap_key_uidvalidity(&pop3_key("abc")), None);
        assert_eq!(pop3_key("0001"), "pop3:0001");
        let mut ordinals = ContentOrdinals::default();
        assert!(ordinals.key(b"x").ends_with(":0"));
        assert!(ordinals.key(b"x").ends_with(":1"));
        assert!(ordinals.key(b"y").ends_with(":0"));
    }
}
