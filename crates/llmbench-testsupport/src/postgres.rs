//! [`PgServer`]: a private PostgreSQL server for a test, in a temporary directory, stopped
//! when dropped.
//!
//! The server binaries come from Debian's `postgresql` package (`/usr/lib/postgresql/*/bin`,
//! the newest version), else from `PATH`; `scripts/install-deps.sh postgres` installs them
//! (`cargo xtask ci` does). Missing binaries fail the test, naming the installer: a test that
//! needs PostgreSQL never skips.
//!
//! PostgreSQL refuses to run as root: when the test runs as root, `initdb` and `pg_ctl` run as
//! the `postgres` user (`runuser -u postgres`), which the package creates, and the data and
//! socket directories are given to it. The server listens on 127.0.0.1 at a free port and on
//! a Unix socket in its temporary directory, with `fsync` off (a test's data need not survive
//! a power cut).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// What to run when the PostgreSQL binaries are missing.
pub const INSTALL_HINT: &str = "scripts/install-deps.sh postgres (or `cargo xtask ci`, which runs scripts/install-deps.sh all)";

/// A running PostgreSQL server, stopped (`pg_ctl stop -m immediate`) and deleted when dropped.
#[derive(Debug)]
pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PgServer {
    /// A server that trusts every connection (no password).
    ///
    /// # Panics
    ///
    /// When the PostgreSQL binaries are missing (naming [`INSTALL_HINT`]) or the server
    /// cannot be started (with its log).
    pub fn start() -> Self {
        Self::start_inner(None)
    }

    /// A server whose TCP connections need `password` (SCRAM) for user `postgres`; its Unix
    /// socket still trusts.
    ///
    /// # Panics
    ///
    /// As [`PgServer::start`].
    pub fn start_with_password(password: &str) -> Self {
        Self::start_inner(Some(password))
    }

    fn start_inner(password: Option<&str>) -> Self {
        let bin = server_bin();
        let dir = tempfile::Builder::new()
            .prefix("llmbench-pg-")
            .tempdir()
            .expect("create a temporary directory");
        let as_postgres = is_root();
        let data = dir.path().join("data");
        let sock = dir.path().join("sock");
        for d in [&data, &sock] {
            std::fs::create_dir(d).expect("create the server's directories");
        }
        if as_postgres {
            set_mode(dir.path(), 0o755);
            let status = Command::new("chown")
                .arg("postgres")
                .args([dir.path(), &data, &sock])
                .status()
                .expect("run chown");
            assert!(
                status.success(),
                "cannot give {} to the postgres user (is the postgresql package installed? {INSTALL_HINT})",
                data.display()
            );
        }
        let mut server = Self {
            dir,
            bin,
            port: 0,
            as_postgres,
        };
        let mut initdb = vec![
            "-D".to_owned(),
            data.display().to_string(),
            "-U".to_owned(),
            "postgres".to_owned(),
            "-E".to_owned(),
            "UTF8".to_owned(),
            "--locale=C".to_owned(),
            "--auth-local=trust".to_owned(),
        ];
        if let Some(password) = password {
            let file = server.dir.path().join("pwfile");
            std::fs::write(&file, format!("{password}\n")).expect("write the password file");
            set_mode(&file, 0o644);
            initdb.push("--auth-host=scram-sha-256".to_owned());
            initdb.push(format!("--pwfile={}", file.display()));
        } else {
            initdb.push("--auth-host=trust".to_owned());
        }
        let out = server.run("initdb", &initdb);
        assert!(out.status.success(), "initdb failed: {}", text(&out));
        // A free port: taken by the OS, released, then given to the server (a race with
        // another process is possible, and then the start fails with the log below).
        for _ in 0..5 {
            server.port = free_port();
            let log = server.dir.path().join("server.log");
            let options = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
                server.port,
                sock.display()
            );
            let out = server.run(
                "pg_ctl",
                &[
                    "-D".to_owned(),
                    data.display().to_string(),
                    "-l".to_owned(),
                    log.display().to_string(),
                    "-o".to_owned(),
                    options,
                    "-w".to_owned(),
                    "-t".to_owned(),
                    "60".to_owned(),
                    "start".to_owned(),
                ],
            );
            if out.status.success() {
                return server;
            }
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            if !log_text.contains("could not bind") {
                panic!("pg_ctl start failed: {}\n{log_text}", text(&out));
            }
        }
        panic!("cannot start PostgreSQL: no free port after 5 tries");
    }

    /// The server's TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`: the default database, no password.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Creates database `name` (through the trusted Unix socket) and returns its URL.
    ///
    /// # Panics
    ///
    /// When `createdb` fails.
    pub fn create_database(&self, name: &str) -> String {
        let out = self.run(
            "createdb",
            &[
                "-h".to_owned(),
                self.dir.path().join("sock").display().to_string(),
                "-p".to_owned(),
                self.port.to_string(),
                "-U".to_owned(),
                "postgres".to_owned(),
                name.to_owned(),
            ],
        );
        assert!(out.status.success(), "createdb {name}: {}", text(&out));
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    fn run(&self, tool: &str, args: &[String]) -> Output {
        let program = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        // The server's own directory: `runuser` keeps the test's, which `postgres` may not
        // be allowed to enter.
        cmd.args(args).current_dir(self.dir.path());
        cmd.output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").display().to_string();
        let _ = self.run(
            "pg_ctl",
            &[
                "-D".to_owned(),
                data,
                "-m".to_owned(),
                "immediate".to_owned(),
                "-w".to_owned(),
                "stop".to_owned(),
            ],
        );
    }
}

/// The directory of `initdb` and `pg_ctl`: the newest `/usr/lib/postgresql/*/bin`, else `PATH`.
///
/// # Panics
///
/// When neither has them, naming [`INSTALL_HINT`].
pub fn server_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    });
    on_path.unwrap_or_else(|| {
        panic!(
            "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin or PATH: install them with {INSTALL_HINT}"
        )
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a free port on 127.0.0.1")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server starts, listens where it says, and is gone once dropped.
    #[test]
    fn a_server_starts_listens_and_stops() {
        let server = PgServer::start();
        let port = server.port();
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        assert!(server.url().ends_with(&format!(":{port}/postgres")));
        drop(server);
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    }
}
