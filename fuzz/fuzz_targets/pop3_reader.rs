//! The POP3 response reader on arbitrary server bytes: every call ends (answer or error),
//! never panics, and a body never exceeds its cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_ingest::pop3::client::{Body, Pop3Client};
use tokio::io::AsyncWriteExt;

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let (client, mut server) = tokio::io::duplex(data.len() + 16);
        server.write_all(data).await.unwrap();
        drop(server);
        let mut c = Pop3Client::new(client);
        let _ = c.greeting().await;
        let _ = c.capa().await;
        let _ = c.list(1000).await;
        let _ = c.uidl(1000).await;
        for _ in 0..4 {
            if let Ok(Body::Message(m)) = c.read_retr(1024, 512).await {
                assert!(m.len() <= 1024);
            }
        }
    });
});
