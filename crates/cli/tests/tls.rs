//! End to end over TLS: HTTPS from a config file (with the listen address from
//! the environment, which wins over the file), then mutual TLS.

mod common;

use std::path::Path;
use std::process::Command;

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};

fn curl(args: &[&str]) -> (bool, String) {
    let o = Command::new("curl")
        .args(["-s", "--max-time", "10"])
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

fn write(dir: &Path, name: &str, pem: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, pem).unwrap();
    p.to_str().unwrap().to_owned()
}

#[test]
fn https_and_mutual_tls() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A throwaway CA, a server certificate for localhost, a client certificate.
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "veritrail test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let srv_key = KeyPair::generate().unwrap();
    let srv = CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .signed_by(&srv_key, &ca_cert, &ca_key)
        .unwrap();
    let mut cp = CertificateParams::new(Vec::<String>::new()).unwrap();
    cp.distinguished_name
        .push(DnType::CommonName, "auditor-laptop");
    cp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cli_key = KeyPair::generate().unwrap();
    let cli = cp.signed_by(&cli_key, &ca_cert, &ca_key).unwrap();
    let ca_pem = write(dir, "ca.pem", &ca_cert.pem());
    let srv_pem = write(dir, "server.pem", &srv.pem());
    let srv_key_pem = write(dir, "server.key", &srv_key.serialize_pem());
    let cli_pem = write(dir, "client.pem", &cli.pem());
    let cli_key_pem = write(dir, "client.key", &cli_key.serialize_pem());

    let data = dir.join("d");
    let cfg = dir.join("veritrail.toml");
    std::fs::write(
        &cfg,
        format!(
            "listen = \"127.0.0.1:1\"\ntls_cert = \"{srv_pem}\"\ntls_key = \"{srv_key_pem}\"\n"
        ),
    )
    .unwrap();
    // The kernel picks the port; the server reports the one it bound.
    let common::Server {
        mut child,
        admin,
        addr: listen,
        ..
    } = common::start_with(
        &data,
        &["--config", cfg.to_str().unwrap()],
        &[("VERITRAIL_LISTEN", "127.0.0.1:0")],
    );
    let port = listen.rsplit_once(':').unwrap().1;
    let url = format!("https://localhost:{port}");
    let admin = admin.expect("admin token");
    let (ok, body) = curl(&["--cacert", &ca_pem, &format!("{url}/healthz")]);
    assert!(ok && body == "ok\n", "HTTPS with our CA must work: {body}");
    assert!(
        !curl(&[&format!("{url}/healthz")]).0,
        "an untrusted certificate must be refused by the client"
    );
    assert!(
        !curl(&[&format!("http://{listen}/healthz")]).0,
        "plain HTTP must not be served on the TLS port"
    );
    let (ok, body) = curl(&[
        "--cacert",
        &ca_pem,
        "-X",
        "POST",
        "-H",
        &format!("Authorization: Bearer {admin}"),
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"role":"writer","logs":["default"]}"#,
        &format!("{url}/v1/tokens"),
    ]);
    assert!(ok, "{body}");
    let writer = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (ok, body) = curl(&[
        "--cacert",
        &ca_pem,
        "-X",
        "POST",
        "-H",
        &format!("Authorization: Bearer {writer}"),
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"action":"user.login","actor":"alice"}"#,
        "-w",
        " %{http_code}",
        &format!("{url}/v1/logs/default/events"),
    ]);
    assert!(ok && body.ends_with(" 201"), "append over TLS: {body}");
    child.kill().unwrap();
    child.wait().unwrap();

    // Mutual TLS: a client certificate from the CA is now required.
    let common::Server {
        mut child, addr, ..
    } = common::start_with(
        &data,
        &["--config", cfg.to_str().unwrap(), "--client-ca", &ca_pem],
        &[("VERITRAIL_LISTEN", "127.0.0.1:0")],
    );
    let url = format!("https://localhost:{}", addr.rsplit_once(':').unwrap().1);
    assert!(
        !curl(&["--cacert", &ca_pem, &format!("{url}/healthz")]).0,
        "no client certificate must be refused"
    );
    let (ok, body) = curl(&[
        "--cacert",
        &ca_pem,
        "--cert",
        &cli_pem,
        "--key",
        &cli_key_pem,
        &format!("{url}/healthz"),
    ]);
    assert!(
        ok && body == "ok\n",
        "client certificate from the CA must be accepted: {body}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = Command::new("chattr")
        .args(["-R", "-a", "-i"])
        .arg(dir)
        .status();
}
