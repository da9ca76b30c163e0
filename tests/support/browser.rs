//! A real headless Chromium driven over WebDriver: Debian's `chromedriver` started on a
//! free loopback port, and a fantoccini client of it (no driver is ever downloaded).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// A running chromedriver; killed when dropped.
pub struct Driver {
    child: Child,
    /// Its WebDriver URL.
    pub url: String,
}

impl Driver {
    /// Starts Debian's chromedriver (installed by `scripts/install-deps.sh`).
    pub fn start() -> Driver {
        let program = super::require("chromedriver");
        super::require("chromium");
        let port = super::free_port();
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A new headless browser session, `width` x `height`.
    pub async fn browser(&self, width: u32, height: u32) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--no-first-run", "--disable-extensions",
                    format!("--window-size={width},{height}"),
                ],
            }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session starts")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text of the first element matching `css`.
pub async fn text(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no `{css}` on the page: {e}"))
        .text()
        .await
        .unwrap()
}

/// Waits (up to 20 s) until `css` matches an element whose text contains `wanted`.
pub async fn wait_for_text(client: &Client, css: &str, wanted: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(e) = client.find(Locator::Css(css)).await
            && let Ok(t) = e.text().await
            && t.contains(wanted)
        {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "`{css}` never showed `{wanted}`; the page:\n{}",
            client.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The bytes at `href`, fetched by the page itself (with its session cookie).
pub async fn fetch_bytes(client: &Client, href: &str) -> Vec<u8> {
    let got = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0]).then(r => r.arrayBuffer())
               .then(b => done(Array.from(new Uint8Array(b))), e => done(String(e)));",
            vec![json!(href)],
        )
        .await
        .unwrap();
    got.as_array()
        .unwrap_or_else(|| panic!("fetch of {href} failed: {got}"))
        .iter()
        .map(|v| v.as_u64().unwrap() as u8)
        .collect()
}
