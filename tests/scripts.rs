//! The shell scripts behave as the README says. `scripts/install-deps.sh` installs what is
//! missing and leaves the machine's own services alone: run here with stand-ins for
//! `apt-get`, `systemctl`, `service` and `id` first on the PATH, it must never ask to start
//! or stop anything.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// Writes an executable stand-in that records its name and arguments in `log`.
fn stand_in(dir: &Path, name: &str, log: &Path, exit: i32) {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\necho \"{name} $*\" >> '{}'\nexit {exit}\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn installing_packages_never_touches_the_machines_services() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let log = dir.path().join("calls.log");
    for name in ["apt-get", "systemctl", "service", "invoke-rc.d"] {
        stand_in(&bin, name, &log, 0);
    }
    // As root, so the install really runs (through the stand-in apt-get).
    std::fs::write(bin.join("id"), "#!/bin/sh\necho 0\n").unwrap();
    std::fs::set_permissions(bin.join("id"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let guard = dir.path().join("policy-rc.d");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install-deps.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("some-extra-package")
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("POLICY_RC_D", &guard)
        .output()
        .unwrap();
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        out.status.success(),
        "install-deps failed: {}\n{calls}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        calls.contains("apt-get install") && calls.contains("some-extra-package"),
        "the package was installed: {calls}"
    );
    for service_tool in ["systemctl", "service", "invoke-rc.d"] {
        assert!(
            !calls.lines().any(|l| l.starts_with(service_tool)),
            "install-deps called `{service_tool}`: {calls}"
        );
    }
    assert!(
        !guard.exists(),
        "the policy-rc.d guard is removed afterwards"
    );
}
