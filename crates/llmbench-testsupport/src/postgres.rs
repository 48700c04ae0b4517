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
//!
//! [`PgServer::start_with`] can also serve TLS ([`PgOptions::tls`]) with a certificate made
//! for the test by a CA made for the test (rcgen; no `openssl` binary), and refuse
//! connections without it ([`PgOptions::tls_only`]: `pg_hba.conf` with `hostssl` lines only).

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
    ca_file: Option<PathBuf>,
}

/// How [`PgServer::start_with`] sets a server up.
#[derive(Debug, Clone, Default)]
pub struct PgOptions {
    /// TCP connections need this password (SCRAM) for user `postgres`; the Unix socket still
    /// trusts. `None`: every connection is trusted.
    pub password: Option<String>,
    /// Serve TLS (`ssl=on`) with a server certificate for these names (DNS names, or IP
    /// addresses such as `127.0.0.1`), signed by a CA made for the server, whose certificate
    /// is [`PgServer::ca_file`]. `None`: no TLS.
    pub tls: Option<Vec<String>>,
    /// Refuse TCP connections without TLS (`hostssl` lines only in `pg_hba.conf`).
    pub tls_only: bool,
}

impl PgOptions {
    /// TLS with a certificate for `127.0.0.1` and `localhost`, which [`PgServer::url`]
    /// names.
    pub fn tls() -> Self {
        Self {
            tls: Some(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]),
            ..Self::default()
        }
    }
}

impl PgServer {
    /// A server that trusts every connection (no password).
    ///
    /// # Panics
    ///
    /// When the PostgreSQL binaries are missing (naming [`INSTALL_HINT`]) or the server
    /// cannot be started (with its log).
    pub fn start() -> Self {
        Self::start_with(&PgOptions::default())
    }

    /// A server whose TCP connections need `password` (SCRAM) for user `postgres`; its Unix
    /// socket still trusts.
    ///
    /// # Panics
    ///
    /// As [`PgServer::start`].
    pub fn start_with_password(password: &str) -> Self {
        Self::start_with(&PgOptions {
            password: Some(password.to_owned()),
            ..PgOptions::default()
        })
    }

    /// A server set up as `options` say.
    ///
    /// # Panics
    ///
    /// As [`PgServer::start`].
    pub fn start_with(options: &PgOptions) -> Self {
        let password = options.password.as_deref();
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
            ca_file: None,
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
        let mut tls_settings = String::new();
        if let Some(names) = &options.tls {
            tls_settings = server.make_certificates(names);
            let method = if password.is_some() {
                "scram-sha-256"
            } else {
                "trust"
            };
            let mut hba = "local all all trust\n".to_owned();
            for net in ["127.0.0.1/32", "::1/128"] {
                hba.push_str(&format!("hostssl all all {net} {method}\n"));
                if !options.tls_only {
                    hba.push_str(&format!("hostnossl all all {net} {method}\n"));
                }
            }
            // Overwritten in place: the file keeps its owner.
            std::fs::write(data.join("pg_hba.conf"), hba).expect("write pg_hba.conf");
        }
        // A free port: taken by the OS, released, then given to the server (a race with
        // another process is possible, and then the start fails with the log below).
        for _ in 0..5 {
            server.port = free_port();
            let log = server.dir.path().join("server.log");
            let options = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off{tls_settings}",
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

    /// The PEM certificate of the CA that signed the server's certificate.
    ///
    /// # Panics
    ///
    /// When the server was started without TLS.
    pub fn ca_file(&self) -> &Path {
        self.ca_file
            .as_deref()
            .expect("a server started with PgOptions::tls")
    }

    /// Makes a CA and a server certificate for `names` signed by it: the CA's certificate in
    /// `ca.pem` (readable by the test), the server's certificate and key in the data
    /// directory (the key private to the server's user, as PostgreSQL demands). Returns the
    /// server options that use them.
    fn make_certificates(&mut self, names: &[String]) -> String {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
            KeyUsagePurpose,
        };
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "llmbench test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("a CA key"))
            .expect("the CA certificate");
        let mut params = CertificateParams::new(names.to_vec()).expect("server parameters");
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().map_or("server", String::as_str),
        );
        let key = KeyPair::generate().expect("a server key");
        let cert = params.signed_by(&key, &ca).expect("the server certificate");
        let ca_file = self.dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).expect("write ca.pem");
        set_mode(&ca_file, 0o644);
        let data = self.dir.path().join("data");
        let (cert_file, key_file) = (data.join("server.crt"), data.join("server.key"));
        std::fs::write(&cert_file, cert.pem()).expect("write server.crt");
        std::fs::write(&key_file, key.serialize_pem()).expect("write server.key");
        set_mode(&key_file, 0o600);
        if self.as_postgres {
            let status = Command::new("chown")
                .arg("postgres")
                .args([&cert_file, &key_file])
                .status()
                .expect("run chown");
            assert!(status.success(), "cannot give the server's key to postgres");
        }
        self.ca_file = Some(ca_file);
        format!(
            " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            cert_file.display(),
            key_file.display()
        )
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
