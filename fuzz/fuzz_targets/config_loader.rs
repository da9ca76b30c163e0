//! The config loader on arbitrary text: it answers with a config or with issues, never
//! panics, and never echoes a `value` secret in an error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(e) = mail_ingest::Config::parse(text, std::path::Path::new("/nonexistent")) {
        let _ = e.to_string();
    }
});
