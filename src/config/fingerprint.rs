//! `tls_fingerprint`: the SHA-256 of a server's certificate, as configured (`sha256:HEX`, any
//! case, colons optional) and as shown when a server presents another one.

use std::fmt;

/// The SHA-256 of a certificate (its DER bytes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of a certificate's DER bytes.
    pub fn of(der: &[u8]) -> Fingerprint {
        let digest = ring::digest::digest(&ring::digest::SHA256, der);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        Fingerprint(bytes)
    }

    /// Reads `sha256:HEX` (the `sha256:` prefix optional, any case, colons optional).
    pub fn parse(text: &str) -> Result<Fingerprint, String> {
        let hex: String = text
            .trim()
            .strip_prefix("sha256:")
            .or_else(|| text.trim().strip_prefix("SHA256:"))
            .unwrap_or(text.trim())
            .chars()
            .filter(|c| *c != ':')
            .collect();
        let bad = || {
            format!(
                "`{text}` is not a SHA-256 fingerprint: give \"sha256:\" and 64 hex digits (colons optional), e.g. from `openssl x509 -noout -fingerprint -sha256 -in cert.pem`"
            )
        };
        if hex.len() != 64 {
            return Err(bad());
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).map_err(|_| bad())?;
        }
        Ok(Fingerprint(bytes))
    }
}

impl fmt::Display for Fingerprint {
    /// `sha256:AB:CD:...`, as `openssl x509 -fingerprint -sha256` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_reads_the_same() {
        let hex = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";
        let a = Fingerprint::parse(&format!("sha256:{hex}")).unwrap();
        let colons: Vec<String> = hex
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8_lossy(c).into())
            .collect();
        let b = Fingerprint::parse(&format!("SHA256:{}", colons.join(":").to_lowercase())).unwrap();
        assert_eq!(a, b);
        assert_eq!(Fingerprint::of(b"test"), a, "SHA-256 of `test`");
        assert_eq!(a.to_string(), format!("sha256:{}", colons.join(":")));
        assert!(Fingerprint::parse("sha256:abcd").is_err());
        assert!(Fingerprint::parse(&format!("sha256:{}", "zz".repeat(32))).is_err());
    }
}
