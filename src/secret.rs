//! Secrets: where a password, token or client secret comes from, and a value type that never
//! prints itself.
//!
//! A [`Secret`] has a redacted `Debug` and no `Display`; the only way to the bytes is
//! [`Secret::expose`], which makes every use easy to find in review.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// A password or token. `Debug` prints `Secret(***)`; there is no `Display`.
///
/// ```
/// let s = mail_ingest::secret::Secret::new("hunter2");
/// assert_eq!(format!("{s:?}"), "Secret(***)");
/// assert_eq!(s.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value read from the environment, a file or the config.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret text, for the one place that must send it (a LOGIN, a SOCKS5 auth).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where a secret is read from: `{ env = "VAR" }`, `{ file = "path" }`, `{ value = "..." }`,
/// `{ command = ["prog", "arg"] }` or `{ credential = "NAME" }` (systemd's credentials).
/// Every source but a value is read again at each use, so a rotated secret needs no restart.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable.
    Env(String),
    /// A file (relative paths are resolved against the config file's folder); one trailing
    /// newline is removed.
    File(PathBuf),
    /// A literal in the config file.
    Value(Secret),
    /// A program and its arguments, run without a shell within [`COMMAND_TIMEOUT`]: the
    /// first line it prints is the secret; what it writes to stderr is never read.
    Command(Vec<String>),
    /// A systemd credential: the file `$CREDENTIALS_DIRECTORY/NAME` (`LoadCredential=`).
    Credential(String),
}

/// Longest a secret command may run.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Most a secret command may print.
const COMMAND_OUTPUT: u64 = 64 << 10;

impl fmt::Debug for SecretSource {
    /// Names the source, never a value (nor a command's arguments, which may hold one).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(var) => write!(f, "Env({var:?})"),
            SecretSource::File(path) => write!(f, "File({path:?})"),
            SecretSource::Value(_) => f.write_str("Value(***)"),
            SecretSource::Command(argv) => write!(f, "Command({:?}, ...)", program(argv)),
            SecretSource::Credential(name) => write!(f, "Credential({name:?})"),
        }
    }
}

/// Why a secret could not be read. The message names the source, never the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The environment variable is not set.
    #[error("environment variable `{0}` is not set (export it, or use {{ file = \"...\" }})")]
    EnvUnset(String),
    /// The secret file could not be read.
    #[error("cannot read secret file `{path}`", path = .0.display())]
    File(PathBuf, #[source] std::io::Error),
    /// The command could not be started.
    #[error("cannot run secret command `{0}`")]
    CommandStart(String, #[source] std::io::Error),
    /// The command did not finish in time.
    #[error("secret command `{0}` did not finish within {secs} s", secs = COMMAND_TIMEOUT.as_secs())]
    CommandTimeout(String),
    /// The command failed.
    #[error("secret command `{0}` failed ({1}); run it by hand to see why")]
    CommandFailed(String, String),
    /// The command printed no secret.
    #[error("secret command `{0}` printed {1}")]
    CommandOutput(String, &'static str),
    /// `{ credential = "NAME" }` outside a systemd unit that loads credentials.
    #[error(
        "CREDENTIALS_DIRECTORY is not set, so systemd credential `{0}` cannot be read (give the unit LoadCredential={0}:/path/to/secret)"
    )]
    NoCredentialsDirectory(String),
}

impl SecretSource {
    /// Reads the secret now.
    pub async fn resolve(&self) -> Result<Secret, SecretError> {
        match self {
            SecretSource::Env(var) => std::env::var(var)
                .map(Secret)
                .map_err(|_| SecretError::EnvUnset(var.clone())),
            SecretSource::File(path) => read_secret_file(path),
            SecretSource::Value(secret) => Ok(secret.clone()),
            SecretSource::Command(argv) => run_command(argv).await,
            SecretSource::Credential(name) => read_secret_file(&credential_path(name)?),
        }
    }
}

/// Where systemd put credential `name`.
pub fn credential_path(name: &str) -> Result<PathBuf, SecretError> {
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY")
        .ok_or_else(|| SecretError::NoCredentialsDirectory(name.to_string()))?;
    Ok(Path::new(&dir).join(name))
}

/// The program of a command, for messages.
fn program(argv: &[String]) -> &str {
    argv.first().map(String::as_str).unwrap_or_default()
}

fn read_secret_file(path: &Path) -> Result<Secret, SecretError> {
    let text = std::fs::read_to_string(path).map_err(|e| SecretError::File(path.into(), e))?;
    Ok(Secret(first_line(&text).to_string()))
}

/// The text up to its first line end (CRLF or LF).
fn first_line(text: &str) -> &str {
    let line = text.split('\n').next().unwrap_or_default();
    line.strip_suffix('\r').unwrap_or(line)
}

/// Runs `argv` (no shell, stdin and stderr closed) and takes the first line it prints.
async fn run_command(argv: &[String]) -> Result<Secret, SecretError> {
    use tokio::io::AsyncReadExt;
    let name = program(argv).to_string();
    let mut child = tokio::process::Command::new(&name)
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| SecretError::CommandStart(name.clone(), e))?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let run = async {
        let mut out = Vec::new();
        (&mut stdout)
            .take(COMMAND_OUTPUT + 1)
            .read_to_end(&mut out)
            .await?;
        if out.len() as u64 > COMMAND_OUTPUT {
            return Ok((out, None));
        }
        Ok::<_, std::io::Error>((out, Some(child.wait().await?)))
    };
    let (out, status) = tokio::time::timeout(COMMAND_TIMEOUT, run)
        .await
        .map_err(|_| SecretError::CommandTimeout(name.clone()))?
        .map_err(|e| SecretError::CommandStart(name.clone(), e))?;
    let Some(status) = status else {
        return Err(SecretError::CommandOutput(name, "more than 64 KiB"));
    };
    if !status.success() {
        return Err(SecretError::CommandFailed(name, status.to_string()));
    }
    let text = String::from_utf8(out)
        .map_err(|_| SecretError::CommandOutput(name.clone(), "something that is not UTF-8"))?;
    let line = first_line(&text);
    if line.is_empty() {
        return Err(SecretError::CommandOutput(
            name,
            "nothing on its first line",
        ));
    }
    Ok(Secret(line.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        let src = SecretSource::Value(s);
        assert!(!format!("{src:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn file_secret_drops_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "pa ss\n").unwrap();
        let s = SecretSource::File(p).resolve().await.unwrap();
        assert_eq!(s.expose(), "pa ss");
    }

    #[tokio::test]
    async fn unset_env_names_the_variable() {
        let err = SecretSource::Env("MAIL_INGEST_SURELY_UNSET_VAR".into())
            .resolve()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("MAIL_INGEST_SURELY_UNSET_VAR"));
    }

    fn command(args: &[&str]) -> SecretSource {
        SecretSource::Command(args.iter().map(|a| a.to_string()).collect())
    }

    #[tokio::test]
    async fn a_command_gives_its_first_line_and_stderr_is_never_read() {
        let s = command(&["sh", "-c", "echo 'tok en'; echo second; echo noise >&2"])
            .resolve()
            .await
            .unwrap();
        assert_eq!(s.expose(), "tok en");
    }

    #[tokio::test]
    async fn a_failing_or_silent_command_is_named_without_its_arguments() {
        let e = command(&["sh", "-c", "echo hunter2; exit 3"])
            .resolve()
            .await
            .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("`sh` failed (exit status: 3)"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        let e = command(&["true"]).resolve().await.unwrap_err();
        assert!(e.to_string().contains("printed nothing"), "{e}");
        let e = command(&["/nonexistent/helper"])
            .resolve()
            .await
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("cannot run secret command `/nonexistent/helper`")
        );
        let e = command(&["sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x"])
            .resolve()
            .await
            .unwrap_err();
        assert!(e.to_string().contains("more than 64 KiB"), "{e}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_command_that_hangs_is_stopped() {
        let e = command(&["sleep", "600"]).resolve().await.unwrap_err();
        assert!(matches!(e, SecretError::CommandTimeout(_)), "{e}");
    }

    #[test]
    fn debug_names_sources_never_values_or_arguments() {
        let text = format!("{:?}", command(&["pass", "show", "hunter2"]));
        assert_eq!(text, "Command(\"pass\", ...)");
    }
}
