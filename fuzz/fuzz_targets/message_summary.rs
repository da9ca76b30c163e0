//! The message summary on arbitrary bytes: never panics, fields stay within their limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = mail_ingest::parse::Summary::of(data);
    if let Some(subject) = &s.subject {
        assert!(subject.len() <= 998);
    }
    let _ = mail_ingest::parse::text_of(data);
});
