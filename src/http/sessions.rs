//! The web console's sessions: a random id in an HttpOnly, SameSite=Strict cookie, given
//! in exchange for the API token at login, each with the CSRF token its forms must carry.
//! Kept in memory: a restart logs everyone out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};

/// How long a session lasts after its login.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Most sessions kept at once; the oldest goes when a login would pass it.
const MAX_SESSIONS: usize = 256;

/// One logged-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    /// The value every form of this session carries in its `csrf` field.
    pub csrf: String,
    started: Instant,
}

/// The sessions of the running daemon.
#[derive(Clone, Default)]
pub struct Sessions {
    by_id: Arc<Mutex<HashMap<String, Session>>>,
}

impl Sessions {
    /// Starts a session: returns its id (the cookie's value).
    pub fn start(&self) -> String {
        let id = random_hex();
        let session = Session {
            csrf: random_hex(),
            started: Instant::now(),
        };
        let mut map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, s| s.started.elapsed() < SESSION_LIFETIME);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.started)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(id.clone(), session);
        id
    }

    /// The live session of this id.
    pub fn get(&self, id: &str) -> Option<Session> {
        let map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        map.get(id)
            .filter(|s| s.started.elapsed() < SESSION_LIFETIME)
            .cloned()
    }

    /// Ends the session of this id.
    pub fn end(&self, id: &str) {
        self.by_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }
}

/// 32 random bytes from the system's generator, in hex.
fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random generator works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares secrets in time that does not depend on where they differ.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_random_and_end() {
        let sessions = Sessions::default();
        let a = sessions.start();
        let b = sessions.start();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        let sa = sessions.get(&a).unwrap();
        assert_ne!(sa.csrf, sessions.get(&b).unwrap().csrf);
        sessions.end(&a);
        assert!(sessions.get(&a).is_none());
        assert!(sessions.get("guess").is_none());
    }
}
