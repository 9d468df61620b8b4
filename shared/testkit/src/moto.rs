//! A throwaway moto server (the AWS API emulator, from PyPI) on a free port of 127.0.0.1.
//! It stops when the handle is dropped, and, through a watchdog, when the test process dies.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Child,
    port: u16,
}

const HOW_TO_INSTALL: &str = "install it into a virtualenv: \
     `python3 -m venv ~/.cache/helios/venv && ~/.cache/helios/venv/bin/pip install 'moto[server]'` \
     (./.ci/test does this), or point HELIOS_MOTO_SERVER at a moto_server executable";

/// Finds `moto_server`: `HELIOS_MOTO_SERVER`, the virtualenv `./.ci/test` makes, or `PATH`.
pub fn executable() -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var("HELIOS_MOTO_SERVER") {
        return Ok(PathBuf::from(p));
    }
    if let Some(home) = std::env::var_os("HOME") {
        let p = PathBuf::from(home).join(".cache/helios/venv/bin/moto_server");
        if p.exists() {
            return Ok(p);
        }
    }
    let on_path = Command::new("moto_server")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if on_path {
        return Ok(PathBuf::from("moto_server"));
    }
    Err(format!("moto_server not found: {HOW_TO_INSTALL}"))
}

impl Moto {
    /// Starts a server and waits until it answers.
    pub fn start() -> Result<Moto, String> {
        let exe = executable()?;
        let port = crate::postgres::free_port()?;
        // The watchdog ends the server once the test process is gone, even after SIGKILL.
        let script = format!(
            "'{exe}' -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
             while [ -d /proc/{parent} ] && kill -0 $m 2>/dev/null; do sleep 1; done; kill $m 2>/dev/null",
            exe = exe.display(),
            parent = std::process::id(),
        );
        let child = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e} ({HOW_TO_INSTALL})", exe.display()))?;
        let moto = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(moto);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not answer on 127.0.0.1:{port} within 60 s",
                    exe.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // The server and its watchdog, by the arguments only they have.
        let _ = Command::new("pkill")
            .args(["-f", "--", &format!("-H 127.0.0.1 -p {}( |$)", self.port)])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
