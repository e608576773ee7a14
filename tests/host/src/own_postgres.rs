//! A PostgreSQL server of a test's own, to restart under load (what a
//! failover or an upgrade does to the app), without touching the machine's
//! shared one. Built with the machine's `initdb` and `pg_ctl`; as root they
//! run as the `postgres` user, since Postgres refuses to run as root.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

pub struct OwnPostgres {
    pub port: u16,
    dir: PathBuf,
}

/// Where Debian keeps the server's programs (`PG_BIN` overrides).
fn bin(program: &str) -> PathBuf {
    let dir = std::env::var("PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".to_owned());
    PathBuf::from(dir).join(program)
}

fn as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let program = bin(program);
    let mut command = if as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&program);
        c
    } else {
        Command::new(&program)
    };
    let output = command.args(args).output()?;
    anyhow::ensure!(
        output.status.success(),
        "{} {args:?}: {}",
        program.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

impl OwnPostgres {
    /// A new cluster (trust authentication, user `postgres`, no fsync) on a
    /// free port of 127.0.0.1, started.
    pub fn start() -> anyhow::Result<OwnPostgres> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir = std::env::temp_dir().join(format!("spintemp-pg-{port}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        if as_root() {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()?;
            anyhow::ensure!(status.success(), "chown of {}", dir.display());
        }
        let data = dir.display().to_string();
        run(
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
        )?;
        let pg = OwnPostgres { port, dir };
        pg.pg_ctl("start")?;
        Ok(pg)
    }

    /// `postgres://postgres@127.0.0.1:<port>/<database>`, without TLS.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    fn pg_ctl(&self, action: &str) -> anyhow::Result<()> {
        let data = self.dir.display().to_string();
        let log = self.dir.join("server.log").display().to_string();
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={data} -c fsync=off",
            self.port
        );
        run(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-o", &options, "-m", "fast", "-w", action,
            ],
        )
    }

    /// `pg_ctl restart -m fast`: every connection is closed, the server is
    /// down for a moment, then accepts again.
    pub fn restart(&self) -> anyhow::Result<()> {
        self.pg_ctl("restart")
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let data = self.dir.display().to_string();
        let _ = run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
