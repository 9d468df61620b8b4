use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A PostgreSQL cluster in a temporary folder, removed with the handle.
pub struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
    bin: PathBuf,
    as_postgres: bool,
    tls: bool,
}

const HOW_TO_INSTALL: &str =
    "install the PostgreSQL server binaries (Debian: `apt-get install -y postgresql`), \
     or point HELIOS_PG_BINDIR at the folder that holds initdb and postgres";

/// Finds the folder of `initdb` and `postgres`.
pub fn bin_dir() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("HELIOS_PG_BINDIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found
        .pop()
        .ok_or_else(|| format!("PostgreSQL server binaries not found: {HOW_TO_INSTALL}"))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

impl Cluster {
    /// Initialises and starts a cluster on a free port of 127.0.0.1, with trust
    /// authentication for the `postgres` user and durability switched off for speed.
    pub fn start() -> Result<Cluster, String> {
        Cluster::start_with(false)
    }

    /// [`Cluster::start`], serving TLS too, with a certificate for 127.0.0.1 signed by a CA
    /// of its own (made with the `openssl` command), whose file [`Cluster::certificate`] names.
    pub fn start_tls() -> Result<Cluster, String> {
        Cluster::start_with(true)
    }

    /// The certificate (PEM) of the CA that signed the server's.
    pub fn certificate(&self) -> PathBuf {
        self.dir.path().join("data/ca.crt")
    }

    fn start_with(tls: bool) -> Result<Cluster, String> {
        let bin = bin_dir()?;
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("helios-pg-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let data = dir.path().join("data");
        std::fs::create_dir(&data).map_err(|e| e.to_string())?;
        if as_postgres {
            // The server refuses to run as root: the cluster belongs to the postgres user.
            run(Command::new("chmod").arg("755").arg(dir.path()))?;
            run(Command::new("chown").arg("-R").arg("postgres:").arg(dir.path()))
                .map_err(|e| format!("{e}; as root the tests run PostgreSQL as the `postgres` user, which must exist ({HOW_TO_INSTALL})"))?;
        }
        let mut c = Cluster {
            dir,
            port: 0,
            bin,
            as_postgres,
            tls,
        };
        let initdb = c.bin.join("initdb");
        let data_s = data.display().to_string();
        c.run_as_owner(&[
            initdb.to_str().unwrap_or("initdb"),
            "-D",
            &data_s,
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        ])?;
        if tls {
            // A CA, and a certificate for 127.0.0.1 it signed (a CA certificate itself is
            // refused as a server's).
            let f = |name: &str| data.join(name).display().to_string();
            std::fs::write(
                data.join("server.ext"),
                "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
            )
            .map_err(|e| e.to_string())?;
            let openssl = |argv: &[&str]| {
                c.run_as_owner(argv).map_err(|e| {
                    format!("{e} (the TLS cluster needs the openssl command: apt-get install -y openssl)")
                })
            };
            openssl(&[
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=helios-test-ca",
                "-keyout",
                &f("ca.key"),
                "-out",
                &f("ca.crt"),
            ])?;
            openssl(&[
                "openssl",
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                &f("server.key"),
                "-out",
                &f("server.csr"),
            ])?;
            openssl(&[
                "openssl",
                "x509",
                "-req",
                "-in",
                &f("server.csr"),
                "-CA",
                &f("ca.crt"),
                "-CAkey",
                &f("ca.key"),
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &f("server.ext"),
                "-out",
                &f("server.crt"),
            ])?;
            c.run_as_owner(&["chmod", "600", &f("server.key")])?;
        }
        c.port = free_port()?;
        c.launch()?;
        Ok(c)
    }

    fn launch(&self) -> Result<(), String> {
        let postgres = self.bin.join("postgres");
        let data = self.dir.path().join("data");
        // The watchdog stops the server once the test process is gone, even after SIGKILL.
        let script = format!(
            "'{pg}' -D '{data}' -p {port} -k '{sock}' -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=100 {ssl} >'{log}' 2>&1 & pg=$!; \
             while [ -d /proc/{parent} ] && kill -0 $pg 2>/dev/null; do sleep 1; done; kill -INT $pg 2>/dev/null; wait $pg; [ -d /proc/{parent} ] || rm -rf '{root}'",
            pg = postgres.display(),
            data = data.display(),
            port = self.port,
            sock = self.dir.path().display(),
            log = self.dir.path().join("server.log").display(),
            parent = std::process::id(),
            root = self.dir.path().display(),
            ssl = if self.tls { "-c ssl=on" } else { "" },
        );
        let mut cmd = self.owner_command(&["sh", "-c", &script]);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd.spawn()
            .map_err(|e| format!("cannot start postgres: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && self.dir.path().join("data/postmaster.pid").exists()
            {
                let ready = Command::new(self.bin.join("pg_isready"))
                    .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(true);
                if ready {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                let log =
                    std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
                return Err(format!("postgres did not start within 30 s:\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn owner_command(&self, argv: &[&str]) -> Command {
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).args(argv);
            c
        } else {
            let mut c = Command::new(argv[0]);
            c.args(&argv[1..]);
            c
        }
    }

    fn run_as_owner(&self, argv: &[&str]) -> Result<(), String> {
        run(&mut self.owner_command(argv))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db` of this cluster.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates an empty database and returns its URL.
    pub fn create_database(&self, db: &str) -> Result<String, String> {
        let createdb = self.bin.join("createdb");
        run(Command::new(createdb).args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
            db,
        ]))?;
        Ok(self.url(db))
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let pid_file = self.dir.path().join("data/postmaster.pid");
        if let Some(pid) = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<i32>().ok()))
        {
            // SAFETY: sending a signal to a pid has no memory-safety preconditions.
            unsafe {
                libc::kill(pid, libc::SIGINT);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

pub(crate) fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e} ({HOW_TO_INSTALL})"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
