//! A real S3 API on loopback for tests: `moto_server` (PyPI `moto[server]`)
//! on a free port, and `tools/s3ctl.py` (boto3) for what a third party
//! does to a bucket.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::location::Settings;

/// A running `moto_server`, killed on drop.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    /// The port.
    pub port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Moto {
    /// Starts one and waits until it answers.
    ///
    /// # Panics
    /// When moto is not installed (`python3 -m pip install 'moto[server]'`)
    /// or does not start.
    pub fn start() -> Moto {
        Moto::start_on(free_port())
    }

    /// Starts one on `port`.
    ///
    /// # Panics
    /// As [`Moto::start`].
    pub fn start_on(port: u16) -> Moto {
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m moto.server (install with: python3 -m pip install 'moto[server]')");
        let m = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        m
    }

    /// Settings that reach it (moto takes any credentials).
    pub fn settings(&self) -> Settings {
        Settings {
            endpoint: Some(self.endpoint.clone()),
            region: Some("us-east-1".into()),
            access_key_id: Some("testing".into()),
            secret_access_key: Some("testing".into()),
            session_token: None,
        }
    }

    /// Runs `tools/s3ctl.py ENDPOINT args…`: exit code and stdout.
    ///
    /// # Panics
    /// When python3 does not run.
    pub fn s3ctl(&self, args: &[&str]) -> (i32, String) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/s3ctl.py");
        let out = Command::new("python3")
            .arg(script)
            .arg(&self.endpoint)
            .args(args)
            .output()
            .expect("python3 tools/s3ctl.py");
        if out.status.code() == Some(1) {
            eprintln!("s3ctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// Creates a bucket with versioning and Object Lock (default
    /// COMPLIANCE retention of `days`).
    ///
    /// # Panics
    /// When S3 refuses.
    pub fn locked_bucket(&self, name: &str, days: u32) {
        let (rc, out) = self.s3ctl(&["create-locked", name, &days.to_string()]);
        assert_eq!(rc, 0, "creating {name}: {out}");
    }

    /// Stops it (SIGKILL), e.g. to test an outage.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}
