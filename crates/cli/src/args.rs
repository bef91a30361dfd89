//! Command-line flags (parsing only; `cmd/` does the work).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// veritrail — an immutable, tamper-evident audit log.
#[derive(Debug, Parser)]
#[command(name = "veritrail", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Where the data directory is.
#[derive(Debug, Args, Clone)]
pub struct DataArgs {
    /// Data directory.
    #[arg(long, env = "VERITRAIL_DATA", default_value = "./veritrail-data")]
    pub data: PathBuf,
}

/// A data directory and one of its logs.
#[derive(Debug, Args, Clone)]
pub struct LogArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Log name.
    #[arg(long, default_value = "default")]
    pub log: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server. With no arguments: ./veritrail-data on 127.0.0.1:7878,
    /// initialising the directory and printing a first admin token on first start.
    ///
    /// Settings come from flags, then VERITRAIL_* environment variables, then
    /// the --config TOML file (same names, with underscores), then defaults.
    Serve(Box<ServeArgs>),
    /// Manage API tokens (offline, on the data directory).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Generate an Ed25519 checkpoint signing key (C2SP signed-note format).
    ///
    /// Prints the verifier key on stdout. The private key goes to --out
    /// (created with mode 0600, never overwritten) or, without --out, to
    /// stdout after a warning on stderr.
    Keygen {
        /// Key name, normally the log's origin (e.g. example.com/audit).
        #[arg(long)]
        origin: String,
        /// File to write the private key to.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Create a data directory with its `default` log and print the log's verifier key.
    Init {
        #[command(flatten)]
        data: DataArgs,
        /// Origin prefix for the logs' checkpoints (default `veritrail.local/<random>`).
        #[arg(long)]
        origin_prefix: Option<String>,
        /// Another node of a cluster sharing a bucket: take the origin prefix
        /// and the signing keys of the shared logs (all but `_system`) from
        /// this existing data directory (docs/SCALE.md).
        #[arg(long, value_name = "DATA")]
        join: Option<std::path::PathBuf>,
    },
    /// Manage logs.
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
    /// Append NDJSON events from stdin; print {"index":N,"leaf_hash":"…"} per event.
    ///
    /// The whole input is validated first: if any line is invalid nothing is
    /// appended and the exit code is 2.
    Append {
        #[command(flatten)]
        log: LogArgs,
    },
    /// Print the latest signed checkpoint.
    Checkpoint {
        #[command(flatten)]
        log: LogArgs,
    },
    /// Verify a log completely: every entry, hash, index record and checkpoint.
    ///
    /// Exit 0 with a summary line, or 1 naming the first bad entry or file and offset.
    Verify {
        #[command(flatten)]
        data: DataArgs,
        /// The log to verify [default: every log of the data directory,
        /// `_system` included; with --server or --tiles: `default`].
        #[arg(long)]
        log: Option<String>,
        /// Print only the result line.
        #[arg(long, short)]
        quiet: bool,
        /// The log's verifier key as published by its operator. Without it the
        /// key stored in the data directory is trusted, which cannot detect a
        /// replaced key with re-signed checkpoints.
        #[arg(long)]
        key: Option<String>,
        /// Verify a remote log through its tlog-tiles API instead (needs --key).
        #[arg(long, env = "VERITRAIL_SERVER")]
        server: Option<String>,
        /// Token, when the server keeps checkpoints private.
        #[arg(long, env = "VERITRAIL_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Verify any C2SP tlog-tiles log by its URL prefix instead (the one
        /// `checkpoint` and `tile/…` are under), e.g. a static mirror written by
        /// `export-tiles`.
        #[arg(long, conflicts_with = "server")]
        tiles: Option<String>,
        /// With --server or --tiles: the last verified checkpoint is kept here,
        /// and the next run requires the log to be consistent with it.
        #[arg(long)]
        trust: Option<PathBuf>,
        /// With --server or --tiles: where progress is saved so an interrupted
        /// run resumes [default: the trust file's name + .progress, or none].
        #[arg(long)]
        resume: Option<PathBuf>,
        /// The latest checkpoint must meet this witness policy, and every
        /// kept cosignature must verify (docs/TRUST.md).
        #[command(flatten)]
        policy: PolicyArgs,
        /// Check the RFC 3161 tokens kept in the data directory against
        /// this root certificate (PEM).
        #[arg(long)]
        tsa_root: Option<PathBuf>,
    },
    /// Print an inclusion proof (--index) or a consistency proof (--from/--to) as JSON.
    Prove {
        #[command(flatten)]
        log: LogArgs,
        /// Entry index to prove.
        #[arg(long, conflicts_with_all = ["from", "to"])]
        index: Option<u64>,
        /// Tree size to prove against (default: the latest checkpoint).
        #[arg(long)]
        tree_size: Option<u64>,
        /// Old tree size of a consistency proof.
        #[arg(long, requires = "to")]
        from: Option<u64>,
        /// New tree size of a consistency proof.
        #[arg(long, requires = "from")]
        to: Option<u64>,
    },
    /// Write the log as a static C2SP tlog-tiles tree (checkpoint, tile/…, tile/entries/…).
    ExportTiles {
        #[command(flatten)]
        log: LogArgs,
        /// Output directory (created; must not exist or be empty).
        #[arg(long)]
        to: PathBuf,
    },
    /// Verify a receipt (the answer to an append with ?wait=proof) offline:
    /// the checkpoint's signature and every entry's inclusion proof.
    VerifyReceipt {
        /// The receipt JSON file ("-" for stdin).
        file: PathBuf,
        /// The log's verifier key, from a channel you trust (default: the key
        /// inside the receipt, which only proves self-consistency).
        #[arg(long)]
        key: Option<String>,
        /// The receipt's checkpoint must meet this witness policy
        /// (receipts of `?wait=witnessed`).
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Find events: filters of the query API, against a data directory or a
    /// server (--server/--token or VERITRAIL_SERVER/VERITRAIL_TOKEN).
    ///
    /// Output: an aligned table on a terminal, NDJSON otherwise; --format
    /// picks json, ndjson, csv or table. --timeline groups events by actor in
    /// time order, marking failures and gaps.
    Query {
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        filter: FilterArgs,
        /// Stop after this many events.
        #[arg(long)]
        limit: Option<u64>,
        /// table, json, ndjson or csv.
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Group by actor and show each actor's actions in time order.
        #[arg(long)]
        timeline: bool,
        /// With --timeline: mark pauses longer than this (e.g. 15m, 2h).
        #[arg(long, default_value = "15m")]
        gap: String,
    },
    /// Write an evidence bundle (docs/BUNDLE.md): the matching entries as
    /// stored, each with its inclusion proof to one signed checkpoint. The
    /// export is recorded in `_system` and the record's proof closes the bundle.
    Export {
        #[command(flatten)]
        log: LogArgs,
        #[command(flatten)]
        filter: FilterArgs,
        /// Output file (must not exist).
        #[arg(long, short = 'o')]
        output: PathBuf,
        /// A checkpoint you pinned earlier: the bundle then carries a
        /// consistency proof from it to the bundle's checkpoint.
        #[arg(long)]
        since_checkpoint: Option<PathBuf>,
        /// Prove the entries in the newest checkpoint the witnesses
        /// cosigned (entries after it are left out) instead of the latest.
        #[arg(long)]
        witnessed: bool,
    },
    /// Verify an evidence bundle offline (needs nothing but the file and the keys).
    ///
    /// Exit 0 with a summary, or 1 naming the first failing line.
    VerifyBundle {
        /// The bundle file.
        file: PathBuf,
        /// The log's verifier key, from a channel you trust.
        #[arg(long)]
        key: Option<String>,
        /// The `_system` log's verifier key (it signs the record of the export).
        #[arg(long)]
        system_key: Option<String>,
        /// Require a consistency proof from this checkpoint (a file you kept).
        #[arg(long)]
        since_checkpoint: Option<PathBuf>,
        /// The bundle's checkpoint must meet this witness policy.
        #[command(flatten)]
        policy: PolicyArgs,
        /// Require the bundle's RFC 3161 timestamp and check it against this
        /// root certificate (PEM).
        #[arg(long)]
        tsa_root: Option<PathBuf>,
    },
    /// Follow a log's checkpoints: check each new one against the previous
    /// with a consistency proof, optionally verify every new entry, and alert
    /// (stderr, exit code 1, webhook) on inconsistency, a bad signature, or a
    /// log that stopped advancing.
    Monitor(MonitorArgs),
    /// Ship files, standard input, the systemd journal or the kernel audit
    /// log to a server, exactly once, in order: follows appends, rotation by
    /// rename and by copytruncate, and files that appear later under a glob;
    /// reads lines with the syslog recognizers; spools on disk while the
    /// server is unreachable; records each file's offset (or the journal's
    /// cursor) only once the server has acknowledged it.
    Forward(ForwardArgs),
    /// Watch files and directories for changes (file-integrity monitoring):
    /// records every file's hash at the first start, then each creation,
    /// modification, attribute change, rename and deletion — also those made
    /// while the watcher was stopped, found at its next start.
    Watch(WatchArgs),
    /// Run a witness (C2SP tlog-witness, docs/TRUST.md): cosigns a log's
    /// checkpoints only when each extends the last one it cosigned.
    Witness {
        #[command(subcommand)]
        command: WitnessCommand,
    },
    /// Check alert rules, or replay history through them (docs/ALERTS.md).
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Record a review of a log up to a signed checkpoint (a
    /// `review.completed` record in `_system` carrying your token, the range,
    /// the checkpoint and the note), or show review coverage (`review
    /// status`). Needs a server and an auditor token: the review is signed
    /// by who made it.
    Review(ReviewArgs),
    /// A period report for compliance reviews (docs/COMPLIANCE.md
    /// "Reports"): counts by action and outcome, authentication failures,
    /// privileged, account and file-integrity events, alerts, review
    /// coverage, witnesses and timestamps, integrity checks — each figure
    /// with its query and the checkpoint it was counted against. From a
    /// server, with an auditor token.
    Report(ReportArgs),
    /// Recent alerts from a server (the `alert.fired` records in `_system`).
    Alerts {
        /// Server URL (http://host:port).
        #[arg(long, env = "VERITRAIL_SERVER")]
        server: String,
        /// API token (auditor or admin).
        #[arg(long, env = "VERITRAIL_TOKEN", hide_env_values = true)]
        token: String,
        /// Only this rule's alerts.
        #[arg(long)]
        rule: Option<String>,
        /// Fired at or after (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// table (one line per alert) or ndjson.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Print a log's newest events, one line each; with -f keep following
    /// (a live stream from --server, or the data directory read again each second).
    Tail {
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        filter: FilterArgs,
        /// Keep following new events.
        #[arg(short = 'f', long)]
        follow: bool,
        /// Start at this index [default: the newest 10 events].
        #[arg(long)]
        from: Option<u64>,
        /// table (one line per event, colour for failures on a terminal) or ndjson.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Rebuild a log's derived query index from the log (the server must not be running).
    Reindex {
        #[command(flatten)]
        log: LogArgs,
    },
    /// Verify a log kept in an S3 bucket, through the S3 API with
    /// credentials: the checkpoint against --key, every entry against the
    /// signed tree, and every kept checkpoint version on one chain.
    ///
    /// Exit 0, 1 naming what failed, 3 when the bucket cannot be read.
    VerifyBucket {
        #[command(flatten)]
        object: ObjectArgs,
        /// The log [default: default].
        #[arg(long, default_value = "default")]
        log: String,
        /// The log's verifier key as published by its operator.
        #[arg(long)]
        key: String,
        /// Print only the result line.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Check that an object-storage bucket may hold evidence: versioning,
    /// Object Lock with a default COMPLIANCE retention, and no deleted or
    /// rewritten objects under the prefix (says what is missing and the
    /// command that fixes it).
    Doctor {
        #[command(flatten)]
        object: ObjectArgs,
    },
    /// Show logs, sizes, checkpoint age, immutability flags and disk use.
    Status {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

/// `veritrail serve` settings; every one may also come from the config file.
#[derive(Debug, Args, Clone, Default)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "VERITRAIL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory [default: ./veritrail-data].
    #[arg(long, env = "VERITRAIL_DATA")]
    pub data: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:7878].
    #[arg(long, env = "VERITRAIL_LISTEN")]
    pub listen: Option<String>,
    /// Require a token for checkpoints, hash tiles and proofs too.
    #[arg(long, env = "VERITRAIL_PRIVATE_CHECKPOINTS", num_args = 0..=1, default_missing_value = "true")]
    pub private_checkpoints: Option<bool>,
    /// Longest delay before new entries are covered by a signed checkpoint, e.g. 1s, 250ms [default: 1s].
    #[arg(long, env = "VERITRAIL_CHECKPOINT_INTERVAL")]
    pub checkpoint_interval: Option<String>,
    /// MiB of each log's newest entries kept in memory for the rules, live streams and the query
    /// index to take without reading them back; 0 keeps none [default: 128].
    #[arg(long, env = "VERITRAIL_RECENT_MIB")]
    pub recent_mib: Option<usize>,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "VERITRAIL_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// Private key of --tls-cert (PEM).
    #[arg(long, env = "VERITRAIL_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates signed by this CA (PEM): mutual TLS.
    #[arg(long, env = "VERITRAIL_CLIENT_CA")]
    pub client_ca: Option<PathBuf>,
    /// A request's head (and a TLS handshake) must arrive within this, e.g. 10s [default: 10s].
    #[arg(long, env = "VERITRAIL_HEADER_TIMEOUT")]
    pub header_timeout: Option<String>,
    /// A request's body must arrive within this, e.g. 60s [default: 60s].
    #[arg(long, env = "VERITRAIL_BODY_TIMEOUT")]
    pub body_timeout: Option<String>,
    /// Connections one client address may hold at once [default: 256].
    #[arg(long, env = "VERITRAIL_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<usize>,
    /// Receive syslog over UDP on this address, e.g. 0.0.0.0:514.
    #[arg(long, env = "VERITRAIL_SYSLOG_UDP")]
    pub syslog_udp: Option<String>,
    /// Receive syslog over TCP (RFC 6587, octet counting or LF) on this address.
    #[arg(long, env = "VERITRAIL_SYSLOG_TCP")]
    pub syslog_tcp: Option<String>,
    /// Receive syslog over TLS (RFC 5425) on this address.
    #[arg(long, env = "VERITRAIL_SYSLOG_TLS")]
    pub syslog_tls: Option<String>,
    /// Certificate chain (PEM) for syslog over TLS [default: --tls-cert].
    #[arg(long, env = "VERITRAIL_SYSLOG_TLS_CERT")]
    pub syslog_tls_cert: Option<PathBuf>,
    /// Private key (PEM) for syslog over TLS [default: --tls-key].
    #[arg(long, env = "VERITRAIL_SYSLOG_TLS_KEY")]
    pub syslog_tls_key: Option<PathBuf>,
    /// Require syslog senders over TLS to present a certificate signed by this CA.
    #[arg(long, env = "VERITRAIL_SYSLOG_CLIENT_CA")]
    pub syslog_client_ca: Option<PathBuf>,
    /// The log syslog messages go to [default: default].
    #[arg(long, env = "VERITRAIL_SYSLOG_LOG")]
    pub syslog_log: Option<String>,
    /// Alert rules (TOML, docs/ALERTS.md), reloaded on SIGHUP and when the
    /// file changes; a file with an error stops the start, or on reload is
    /// refused while the old rules keep running.
    #[arg(long, env = "VERITRAIL_RULES")]
    pub rules: Option<PathBuf>,
    /// A witness to ask for cosignatures, as VKEY@URL (its verifier key and
    /// its submission prefix); repeat for several (docs/TRUST.md).
    #[arg(long = "witness")]
    pub witness: Vec<String>,
    /// Cosignatures needed for a checkpoint to count as witnessed [default: a majority of the witnesses].
    #[arg(long)]
    pub witness_quorum: Option<usize>,
    /// An RFC 3161 timestamp authority's URL: each published checkpoint
    /// gets a token from it (docs/TRUST.md "Timestamps"); needs --tsa-root.
    #[arg(long)]
    pub tsa: Option<String>,
    /// The root certificate(s), PEM, that the authority's tokens must chain to.
    #[arg(long)]
    pub tsa_root: Option<PathBuf>,
    /// At most one token per log this often, e.g. 1s, 1m [default: 1s].
    #[arg(long)]
    pub tsa_interval: Option<String>,
    #[command(flatten)]
    pub object: ObjectArgs,
    /// When to acknowledge an event: `local` (fsync'd on this node) or
    /// `object` (stored in the bucket with a checkpoint covering it; needs
    /// --store) [default: local].
    #[arg(long)]
    pub durability: Option<String>,
    /// With --durability object: how long an ack waits for the bucket
    /// before answering 503 [default: 30s].
    #[arg(long)]
    pub object_ack_timeout: Option<String>,
    /// How often to list the bucket's object versions for deleted or
    /// rewritten objects, or `off` [default: 5m].
    #[arg(long)]
    pub object_scan_interval: Option<String>,
    /// This node's name, when several nodes share the bucket: each log is
    /// then written by the node holding its lease (docs/SCALE.md). Needs
    /// --store.
    #[arg(long)]
    pub node: Option<String>,
    /// The URL other nodes send this node's writers to [default:
    /// http://LISTEN-ADDRESS].
    #[arg(long)]
    pub advertise: Option<String>,
    /// How long a lease lasts without renewal, e.g. 10s [default: 10s].
    #[arg(long)]
    pub lease_ttl: Option<String>,
    /// Serve as a read replica of the bucket (--store): copy each log named
    /// by --log-key from it, checked against the writer's key, and serve
    /// reads from the copy; writes are refused (events are redirected to
    /// the node holding the log's lease, when there is one; docs/SCALE.md).
    #[arg(long)]
    pub read_only: bool,
    /// With --read-only: a log to copy and the writer's verifier key for
    /// it, NAME=VKEY (`veritrail log list` on the writer prints them);
    /// repeatable.
    #[arg(long, value_name = "NAME=VKEY")]
    pub log_key: Vec<String>,
    /// With --read-only: how often to look for a new checkpoint in the
    /// bucket, e.g. 1s, 500ms [default: 1s].
    #[arg(long)]
    pub replica_poll: Option<String>,
    /// With --read-only: upload this replica's own `_system` log (who read
    /// what here) to PREFIX/_replica.NAME/ in the bucket, where it is as
    /// safe as the writer's; its credentials then need to write there.
    /// Without it the trail stays on the replica's disk.
    #[arg(long, value_name = "NAME")]
    pub trail_name: Option<String>,
}

/// Where the object-storage tier is (docs/SCALE.md). Credentials come from
/// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
#[derive(Debug, Args, Clone, Default)]
pub struct ObjectArgs {
    /// Copy every log into this S3 bucket and prefix, as C2SP tlog-tiles
    /// trees: s3://BUCKET/PREFIX.
    #[arg(long, value_name = "s3://BUCKET/PREFIX")]
    pub store: Option<String>,
    /// The S3 endpoint (MinIO, Ceph RGW, moto; AWS when unset)
    /// [env: AWS_ENDPOINT_URL].
    #[arg(long)]
    pub s3_endpoint: Option<String>,
    /// The S3 region [env: AWS_REGION; default: us-east-1].
    #[arg(long)]
    pub s3_region: Option<String>,
}

/// `veritrail forward` settings.
#[derive(Debug, Args, Clone, Default)]
pub struct ForwardArgs {
    /// TOML file with the same settings (server, token, log, files, stdin, journal, journal_files, journalctl, auditd, from_start, state, spool, spool_max_mib).
    #[arg(long, env = "VERITRAIL_FORWARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Server URL (http://host:port).
    #[arg(long, env = "VERITRAIL_SERVER")]
    pub server: Option<String>,
    /// A writer token for the log.
    #[arg(long, env = "VERITRAIL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The log to write to [default: default].
    #[arg(long)]
    pub log: Option<String>,
    /// Files to follow; globs (quoted) pick up files that appear later.
    pub files: Vec<String>,
    /// Ship the lines of standard input instead, then exit.
    #[arg(long)]
    pub stdin: bool,
    /// Ship the systemd journal (`journalctl -o json`), resuming at the last acknowledged cursor.
    #[arg(long)]
    pub journal: bool,
    /// Read this journal file instead of the system's (implies --journal; repeatable).
    #[arg(long, value_name = "FILE")]
    pub journal_file: Vec<PathBuf>,
    /// The journalctl program [default: journalctl].
    #[arg(long, value_name = "PATH")]
    pub journalctl: Option<PathBuf>,
    /// The files (or --stdin) are the kernel audit log: assemble its records into events [default file: /var/log/audit/audit.log].
    #[arg(long)]
    pub auditd: bool,
    /// Read files the state does not know from their start, not their end.
    #[arg(long)]
    pub from_start: bool,
    /// Ship what is there, then exit once all of it is acknowledged (for cron).
    #[arg(long)]
    pub once: bool,
    /// Where each file's acknowledged offset is kept [default: ./veritrail-forward.state].
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Where batches wait until acknowledged [default: ./veritrail-forward.spool].
    #[arg(long)]
    pub spool: Option<PathBuf>,
    /// Largest spool, in MiB; a full spool stops the reading [default: 1024].
    #[arg(long)]
    pub spool_max_mib: Option<u64>,
}

/// `veritrail monitor` settings.
#[derive(Debug, Args, Clone)]
pub struct MonitorArgs {
    /// Server URL (http://host:port).
    #[arg(long, env = "VERITRAIL_SERVER", required_unless_present = "tiles")]
    pub server: Option<String>,
    /// Follow any C2SP tlog-tiles log by its URL prefix instead (e.g. a static mirror).
    #[arg(long, conflicts_with = "server")]
    pub tiles: Option<String>,
    /// Log name.
    #[arg(long, default_value = "default")]
    pub log: String,
    /// Token, when the server keeps checkpoints private.
    #[arg(long, env = "VERITRAIL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The log's verifier key.
    #[arg(long)]
    pub key: String,
    /// Time between polls, e.g. 10s, 1m.
    #[arg(long, default_value = "10s")]
    pub interval: String,
    /// Alert when the checkpoint has not changed for this long, e.g. 5m (off by default).
    #[arg(long)]
    pub max_age: Option<String>,
    /// POST a JSON alert here.
    #[arg(long)]
    pub webhook: Option<String>,
    /// Also fetch and check every new entry.
    #[arg(long)]
    pub verify_entries: bool,
    /// Keep the last good checkpoint here (shared with `verify --trust`).
    #[arg(long)]
    pub trust: Option<PathBuf>,
    /// Check once and exit (0 fine, 1 alert): for cron and tests.
    #[arg(long)]
    pub once: bool,
    /// The served checkpoints must meet this witness policy: alert
    /// `not_witnessed` when none has for --witness-grace, and
    /// `bad_cosignature` (fatal) for a cosignature that does not verify.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// How long the log may serve checkpoints that do not meet the policy
    /// (witnesses lag, or are down) before an alert; with --once, 0.
    #[arg(long, default_value = "1m")]
    pub witness_grace: String,
    /// Check the RFC 3161 token of each new checkpoint the server has one
    /// for against this root certificate (PEM); alert on a bad one.
    #[arg(long)]
    pub tsa_root: Option<PathBuf>,
}

/// A witness policy (docs/TRUST.md "Policies"): `--witness VKEY…
/// [--quorum K]`, or a policy file.
#[derive(Debug, Args, Clone, Default)]
pub struct PolicyArgs {
    /// A witness's verifier key; repeat for several. The checkpoint must
    /// carry --quorum valid cosignatures from them.
    #[arg(long = "witness")]
    pub witness: Vec<String>,
    /// Cosignatures needed [default: all the --witness keys].
    #[arg(long)]
    pub quorum: Option<usize>,
    /// A witness policy file (witnesses, groups, quorum; docs/TRUST.md)
    /// instead of --witness/--quorum.
    #[arg(long, conflicts_with_all = ["witness", "quorum"])]
    pub witness_policy: Option<PathBuf>,
}

/// Where `query` reads from.
#[derive(Debug, Args, Clone)]
pub struct SourceArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// Query this server instead of a data directory.
    #[arg(long, env = "VERITRAIL_SERVER")]
    pub server: Option<String>,
    /// API token for --server.
    #[arg(long, env = "VERITRAIL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// Query filters (all must match).
#[derive(Debug, Args, Clone, Default)]
pub struct FilterArgs {
    /// Actor id, exact.
    #[arg(long)]
    pub actor: Option<String>,
    /// Action, exact, or a prefix: `auth.*`.
    #[arg(long)]
    pub action: Option<String>,
    /// success, failure or unknown.
    #[arg(long)]
    pub outcome: Option<String>,
    /// Target id, exact.
    #[arg(long)]
    pub target: Option<String>,
    /// Source host or app, exact.
    #[arg(long)]
    pub source: Option<String>,
    /// Received at or after (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Received before (RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
    /// Words that must all occur in message or metadata.
    #[arg(long = "text", short = 'q')]
    pub text: Option<String>,
}

/// Output formats of `query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Ndjson,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Make the witness's key in DIR and print its verifier key.
    Init {
        /// The witness's directory.
        #[arg(long)]
        data: PathBuf,
        /// Its name (the key name in cosignature lines), e.g. witness.example.com/w1.
        #[arg(long)]
        name: String,
    },
    /// Serve POST /add-checkpoint for the logs whose keys are given.
    Serve {
        /// The witness's directory.
        #[arg(long, env = "VERITRAIL_WITNESS_DATA")]
        data: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7879")]
        listen: String,
        /// A log's verifier key (its name is the log's origin); repeat for several logs.
        #[arg(long = "log-key", required = true)]
        log_keys: Vec<String>,
    },
    /// What the witness last cosigned per log, and the evidence it kept.
    Status {
        /// The witness's directory.
        #[arg(long)]
        data: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Check a rules file: exit 0 with a summary, or 2 naming the file, line, rule and problem.
    Check {
        /// The rules file.
        file: PathBuf,
    },
    /// Replay a log's history through a rules file and print what would
    /// have fired and when (rule time: each event's received_at).
    Test {
        /// The rules file.
        file: PathBuf,
        #[command(flatten)]
        source: SourceArgs,
        /// Only events received at or after (RFC 3339).
        #[arg(long)]
        since: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print its secret (shown only once).
    Create {
        #[command(flatten)]
        data: DataArgs,
        /// writer, reader, auditor or admin.
        #[arg(long)]
        role: String,
        /// Logs a writer or reader may use (repeatable).
        #[arg(long = "log")]
        logs: Vec<String>,
        /// A label.
        #[arg(long, default_value = "")]
        name: String,
        /// Lifetime, e.g. 90d, 12h, 30m, 3600s.
        #[arg(long)]
        expires: Option<String>,
    },
    /// List tokens (never their secrets).
    List {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Revoke a token by id.
    Revoke {
        #[command(flatten)]
        data: DataArgs,
        /// Token id (tok_…).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Create a log (with its own signing key) and print its verifier key.
    Create {
        /// Log name: 1-63 of a-z 0-9 _ . - starting with a letter or digit.
        name: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List logs with their sizes and verifier keys.
    List {
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Test helper: append forever from many writers, printing `index leaf_hash`
    /// for every acknowledged entry, until killed.
    #[command(hide = true)]
    CrashWriter {
        #[command(flatten)]
        log: LogArgs,
        /// Concurrent callback-driven writers.
        #[arg(long, default_value_t = 16)]
        writers: usize,
        /// Close WAL segments at this size (small values make kills land
        /// inside segment roll-overs).
        #[arg(long)]
        wal_segment_bytes: Option<u64>,
    },
    /// Durable append throughput and ack latency on a fresh temporary log.
    Append {
        /// Events to append in total.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Events per append call (each call returns once durable).
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Concurrent writers; each waits for its ack before sending its next batch.
        #[arg(long, default_value_t = 4)]
        writers: usize,
        /// Run each writer on its own OS thread blocking in `append` (default:
        /// writers are driven by ack callbacks, as async clients of the server are).
        #[arg(long)]
        threads: bool,
        /// Bytes per event.
        #[arg(long, default_value_t = 300)]
        event_bytes: usize,
        /// Directory for the temporary data directory (default: system temp dir).
        #[arg(long, conflicts_with = "data")]
        dir: Option<PathBuf>,
        /// Append to the `default` log of this data directory (created if
        /// missing) and keep it, instead of a temporary one.
        #[arg(long)]
        data: Option<PathBuf>,
        /// WAL fdatasyncs in progress at once (default: the log's default, 4).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
        syncs_in_flight: Option<u16>,
    },
}

/// `veritrail watch` settings.
#[derive(Debug, Args, Clone, Default)]
pub struct WatchArgs {
    /// TOML file with the same settings (server, token, log, paths, state, spool, spool_max_mib, hash_max_mib, quiet_ms).
    #[arg(long, env = "VERITRAIL_WATCH_CONFIG")]
    pub config: Option<PathBuf>,
    /// Server URL (http://host:port).
    #[arg(long, env = "VERITRAIL_SERVER")]
    pub server: Option<String>,
    /// A writer token for the log.
    #[arg(long, env = "VERITRAIL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The log to write to [default: default].
    #[arg(long)]
    pub log: Option<String>,
    /// Files and directories to watch (directories recursively).
    pub paths: Vec<PathBuf>,
    /// The baseline: every watched file's size, owner, mode and hash [default: ./veritrail-watch.state].
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Where batches wait until acknowledged [default: ./veritrail-watch.spool].
    #[arg(long)]
    pub spool: Option<PathBuf>,
    /// Largest spool, in MiB [default: 1024].
    #[arg(long)]
    pub spool_max_mib: Option<u64>,
    /// Files larger than this (MiB) are not hashed [default: 64].
    #[arg(long)]
    pub hash_max_mib: Option<u64>,
    /// A file quiet this long (ms) after a burst of changes gets its event [default: 500].
    #[arg(long)]
    pub quiet_ms: Option<u64>,
    /// Scan, record what changed since the last run, ship it and exit.
    #[arg(long)]
    pub once: bool,
}

/// `veritrail report`.
#[derive(Debug, Args, Clone)]
pub struct ReportArgs {
    /// Server URL (http://host:port).
    #[arg(long, env = "VERITRAIL_SERVER")]
    pub server: String,
    /// API token (auditor).
    #[arg(long, env = "VERITRAIL_TOKEN", hide_env_values = true)]
    pub token: String,
    /// The log reported on.
    #[arg(long, default_value = "default")]
    pub log: String,
    /// Start of the period (RFC 3339, inclusive) [default: the log's start].
    #[arg(long)]
    pub from: Option<String>,
    /// End of the period (RFC 3339, exclusive) [default: now].
    #[arg(long)]
    pub to: Option<String>,
    /// json, html, or pdf (the HTML printed by headless Chromium).
    #[arg(long, default_value = "html")]
    pub format: String,
    /// Where to write it (never overwritten).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Also download the evidence bundle of the period's entries to this
    /// file (at most 100,000 entries; verify with `verify-bundle`).
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// The Chromium binary for --format pdf.
    #[arg(long, env = "CHROMIUM", default_value = "chromium")]
    pub chromium: PathBuf,
}

/// `veritrail review`.
#[derive(Debug, Args, Clone)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReviewArgs {
    /// `status`: coverage instead of a new review.
    #[command(subcommand)]
    pub command: Option<ReviewCommand>,
    /// Server URL (http://host:port).
    #[arg(long, env = "VERITRAIL_SERVER")]
    pub server: Option<String>,
    /// API token (auditor).
    #[arg(long, env = "VERITRAIL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The log reviewed.
    #[arg(long, default_value = "default")]
    pub log: String,
    /// The signed checkpoint the review goes up to (a file) [default: the
    /// log's latest].
    #[arg(long)]
    pub to_checkpoint: Option<PathBuf>,
    /// First entry reviewed [default: where the log's last review ended].
    #[arg(long)]
    pub from: Option<u64>,
    /// What was reviewed and concluded.
    #[arg(long)]
    pub note: Option<String>,
    /// A finding; repeat for several.
    #[arg(long = "finding")]
    pub findings: Vec<String>,
}

/// `veritrail review` subcommands.
#[derive(Debug, Subcommand, Clone)]
pub enum ReviewCommand {
    /// Which ranges of which logs were reviewed, by whom, and the gaps.
    Status {
        /// Server URL (http://host:port).
        #[arg(long, env = "VERITRAIL_SERVER")]
        server: String,
        /// API token (auditor).
        #[arg(long, env = "VERITRAIL_TOKEN", hide_env_values = true)]
        token: String,
        /// Only this log.
        #[arg(long)]
        log: Option<String>,
        /// table or json.
        #[arg(long, default_value = "table")]
        format: String,
    },
}
