//! The names a request may address this server by: any IP address, `localhost`, or a name
//! the config allows; always with the port it is bound to.

/// The names this server answers to besides IP addresses and `localhost`, and its port.
#[derive(Clone, Debug)]
pub struct Hosts {
    /// `[http] allowed_hosts`, lowercase.
    pub names: Vec<String>,
    /// The port the listener is bound to.
    pub port: u16,
}

impl Hosts {
    /// True when `host` (a Host header's value) names this server.
    pub fn allows(&self, host: &str) -> bool {
        let Some((name, port)) = split_host(host) else {
            return false;
        };
        let port_ok = match port {
            Some(p) => p == self.port,
            None => self.port == 80,
        };
        let name = name.to_ascii_lowercase();
        let name_ok = name.parse::<std::net::IpAddr>().is_ok()
            || name == "localhost"
            || self.names.contains(&name);
        port_ok && name_ok
    }
}

/// `name:port`, `[v6]:port`, `name` -> (name, port).
fn split_host(host: &str) -> Option<(&str, Option<u16>)> {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(p) => Some((v6, Some(p.parse().ok()?))),
            None if after.is_empty() => Some((v6, None)),
            None => None,
        };
    }
    match host.rsplit_once(':') {
        Some((name, p)) => Some((name, Some(p.parse().ok()?))),
        None if !host.is_empty() => Some((host, None)),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_addresses_localhost_or_named() {
        let hosts = Hosts {
            names: vec!["mail-ingest.internal".into()],
            port: 9898,
        };
        for ok in [
            "127.0.0.1:9898",
            "localhost:9898",
            "[::1]:9898",
            "10.0.0.5:9898",
            "MAIL-INGEST.internal:9898",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example:9898",
            "127.0.0.1:80",
            "localhost",
            "",
            "127.0.0.1:x",
            "a.localhost.evil:9898",
        ] {
            assert!(!hosts.allows(bad), "{bad}");
        }
    }
}
