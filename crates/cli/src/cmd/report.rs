//! `veritrail report`: a period report from a server
//! (`GET /v1/logs/{log}/report`, docs/COMPLIANCE.md "Period reports") written as
//! JSON, HTML, or PDF (the server's HTML printed by headless Chromium), and
//! optionally the evidence bundle of the period's entries beside it.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, ExitCode};

use crate::args::ReportArgs;
use crate::exit::Exit;

/// The body, and the count of entries a bundle holds (its header).
fn get(
    url: &str,
    token: &str,
    query: &[(&str, &str)],
) -> anyhow::Result<(Vec<u8>, Option<String>)> {
    let mut req = ureq::get(url);
    for (k, v) in query {
        req = req.query(k, v);
    }
    match req
        .set("Authorization", &format!("Bearer {token}"))
        .timeout(std::time::Duration::from_secs(600))
        .call()
    {
        Ok(r) => {
            let mut body = Vec::new();
            let entries = r.header("x-veritrail-entries").map(str::to_owned);
            r.into_reader().read_to_end(&mut body)?;
            Ok((body, entries))
        }
        Err(ureq::Error::Status(code, r)) => {
            let body: serde_json::Value = r.into_json().unwrap_or_default();
            let msg = body["error"]["message"]
                .as_str()
                .map_or_else(|| body.to_string(), str::to_owned);
            Err(Exit::usage(format!("the server answered {code}: {msg}")))
        }
        Err(e) => Err(anyhow::anyhow!(e).context(url.to_owned())),
    }
}

/// Writes `bytes` to a new file (never over an existing one), durably.
fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Exit::usage(format!("{}: {e}", path.display())))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

fn period<'a>(a: &'a ReportArgs, names: (&'a str, &'a str)) -> Vec<(&'a str, &'a str)> {
    let mut q = Vec::new();
    if let Some(f) = &a.from {
        q.push((names.0, f.as_str()));
    }
    if let Some(t) = &a.to {
        q.push((names.1, t.as_str()));
    }
    q
}

/// A private directory for Chromium's profile and files, removed after.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new() -> std::io::Result<Scratch> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let p =
            std::env::temp_dir().join(format!("veritrail-report-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&p)?;
        Ok(Scratch(p))
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Prints `html` to a PDF at `out` with headless Chromium.
fn print_pdf(chromium: &Path, html: &[u8], out: &Path) -> anyhow::Result<()> {
    let dir = Scratch::new()?;
    let page = dir.path().join("report.html");
    std::fs::write(&page, html)?;
    let pdf = dir.path().join("report.pdf");
    let o = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-pdf-header-footer",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .map_err(|e| {
            Exit::usage(format!(
                "--format pdf runs {} (Debian: apt-get install chromium; or --chromium PATH): {e}",
                chromium.display()
            ))
        })?;
    let bytes = std::fs::read(&pdf).map_err(|_| {
        anyhow::anyhow!(
            "{} printed no PDF: {}",
            chromium.display(),
            String::from_utf8_lossy(&o.stderr)
        )
    })?;
    if !bytes.starts_with(b"%PDF-") {
        return Err(anyhow::anyhow!(
            "{} did not print a PDF",
            chromium.display()
        ));
    }
    write_new(out, &bytes)
}

pub fn run(a: &ReportArgs) -> anyhow::Result<ExitCode> {
    let format = a.format.as_str();
    if !["json", "html", "pdf"].contains(&format) {
        return Err(Exit::usage("--format is json, html or pdf"));
    }
    for p in std::iter::once(&a.output).chain(a.bundle.as_ref()) {
        if p.exists() {
            return Err(Exit::usage(format!(
                "{} exists; reports and bundles are never overwritten",
                p.display()
            )));
        }
    }
    if a.log.is_empty()
        || !a
            .log
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(Exit::usage(format!("--log {:?} is not a log name", a.log)));
    }
    let base = format!("{}/v1/logs/{}", a.server.trim_end_matches('/'), a.log);
    let mut q = period(a, ("from", "to"));
    q.push(("format", if format == "json" { "json" } else { "html" }));
    let started = std::time::Instant::now();
    let (body, _) = get(&format!("{base}/report"), &a.token, &q)?;
    match format {
        "pdf" => print_pdf(&a.chromium, &body, &a.output)?,
        _ => write_new(&a.output, &body)?,
    }
    println!(
        "report on log {:?} written to {} ({} bytes, {:.1}s)",
        a.log,
        a.output.display(),
        std::fs::metadata(&a.output)?.len(),
        started.elapsed().as_secs_f64()
    );
    if let Some(b) = &a.bundle {
        let (bytes, entries) = get(
            &format!("{base}/export"),
            &a.token,
            &period(a, ("since", "until")),
        )?;
        write_new(b, &bytes)?;
        println!(
            "evidence bundle of the period's {} entries written to {} (verify with: veritrail verify-bundle {} --key LOG_KEY --system-key SYSTEM_KEY)",
            entries.as_deref().unwrap_or("?"),
            b.display(),
            b.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
