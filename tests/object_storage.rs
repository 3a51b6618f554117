//! A store's copy on S3-compatible object storage: moto's S3 server (from PyPI) on loopback, the
//! data directory's files uploaded to it with boto3 as `aws s3 sync` would, and the reading
//! commands over `s3://BUCKET/PREFIX` answering exactly as they do over the directory.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::support::{faasobs, python, sample_store};
use crate::tui::{Tmux, invocations_shown};

/// Starts moto's S3 server on a free loopback port, creates the bucket, uploads every file
/// under the directory (argument 1) to the bucket (2) under the prefix (3), prints the endpoint
/// and serves until its standard input closes.
const S3_SERVER: &str = r#"
import logging, os, sys
import boto3
from moto.server import ThreadedMotoServer

root, bucket, prefix = sys.argv[1:4]
logging.getLogger("werkzeug").setLevel(logging.ERROR)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
endpoint = f"http://{host}:{port}"
s3 = boto3.client(
    "s3", endpoint_url=endpoint, region_name="us-east-1",
    aws_access_key_id="test", aws_secret_access_key="test",
)
s3.create_bucket(Bucket=bucket)
for folder, _, names in os.walk(root):
    for name in names:
        path = os.path.join(folder, name)
        relative = os.path.relpath(path, root).replace(os.sep, "/")
        s3.upload_file(path, bucket, f"{prefix}/{relative}" if prefix else relative)
print(endpoint, flush=True)
sys.stdin.read()
server.stop()
"#;

/// moto's S3 server holding a copy of a data directory; stopped when dropped.
struct S3Copy {
    server: Child,
    endpoint: String,
}

impl S3Copy {
    fn of(data: &Path, bucket: &str, prefix: &str) -> S3Copy {
        let mut server = Command::new(python())
            .arg("-c")
            .arg(S3_SERVER)
            .arg(data)
            .args([bucket, prefix])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python runs");
        let mut endpoint = String::new();
        BufReader::new(server.stdout.take().expect("piped"))
            .read_line(&mut endpoint)
            .expect("the server says its endpoint");
        assert!(
            endpoint.starts_with("http://127.0.0.1:"),
            "moto's S3 server did not start: {endpoint:?}"
        );
        S3Copy {
            server,
            endpoint: endpoint.trim().to_string(),
        }
    }

    /// The environment that points faasobs at this server, as a user would set it.
    fn environment(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    /// `faasobs --data URL` with [`S3Copy::environment`].
    fn faasobs(&self, url: &str) -> assert_cmd::Command {
        let mut cmd = faasobs();
        cmd.arg("--data").arg(url).envs(self.environment());
        cmd
    }
}

impl Drop for S3Copy {
    fn drop(&mut self) {
        drop(self.server.stdin.take());
        let _ = self.server.wait();
    }
}

/// Standard output of a command that must succeed.
fn stdout_of(cmd: &mut assert_cmd::Command, args: &[&str]) -> String {
    let out = cmd.args(args).output().expect("faasobs runs");
    assert!(
        out.status.success(),
        "faasobs {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
fn a_copy_on_s3_answers_every_reading_command_as_the_directory_does() {
    let data = sample_store();
    let s3 = S3Copy::of(data.path(), "telemetry", "teams/checkout/faasobs");
    let url = "s3://telemetry/teams/checkout/faasobs";
    let commands: &[&[&str]] = &[
        &[
            "query",
            "--format",
            "json",
            "SELECT function_name, count(*) AS invocations, sum(billed_duration_ms) AS billed, \
             count(*) FILTER (WHERE cold_start) AS cold FROM invocations \
             GROUP BY function_name ORDER BY function_name",
        ],
        &[
            "query",
            "--format",
            "csv",
            "SELECT function_name, count(*) AS spans, count(resource_attributes) AS with_resource \
             FROM spans GROUP BY function_name ORDER BY function_name",
        ],
        &[
            "query",
            "--format",
            "ndjson",
            "SELECT function_name, count(*) AS logs FROM logs \
             GROUP BY function_name ORDER BY function_name",
        ],
        &["report", "coldstarts", "--format", "json"],
        &["summary", "--format", "json"],
        &["cost", "report", "--format", "json"],
    ];
    for args in commands {
        let local = stdout_of(faasobs().arg("--data").arg(data.path()), args);
        let remote = stdout_of(&mut s3.faasobs(url), args);
        assert!(
            local.contains("checkout-api"),
            "{args:?} answered nothing: {local}"
        );
        assert_eq!(remote, local, "{args:?} over {url}");
    }
    // A trailing slash names the same prefix; the shell reads its script from the pipe.
    let counted = stdout_of(
        s3.faasobs(&format!("{url}/"))
            .write_stdin("SELECT count(*) AS spans FROM spans;\n"),
        &["sql"],
    );
    let local = stdout_of(
        faasobs()
            .arg("--data")
            .arg(data.path())
            .args(["query", "SELECT count(*) AS spans FROM spans"]),
        &[],
    );
    assert_eq!(counted.trim(), format!("{}\n(1 row)", local.trim()));
}

#[test]
fn an_empty_prefix_is_said_a_missing_bucket_fails_and_writers_refuse_object_storage() {
    let data = sample_store();
    let s3 = S3Copy::of(data.path(), "telemetry", "");
    // The bucket's root holds the copy.
    let count = "SELECT count(*) AS n FROM invocations";
    let root = stdout_of(&mut s3.faasobs("s3://telemetry"), &["query", count]);
    let local = stdout_of(faasobs().arg("--data").arg(data.path()), &["query", count]);
    assert_eq!(root, local);

    let empty = s3
        .faasobs("s3://telemetry/nothing-here")
        .args(["query", count])
        .output()
        .unwrap();
    assert!(empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stdout).contains("| 0 |"));
    assert!(
        String::from_utf8_lossy(&empty.stderr)
            .contains("note: s3://telemetry/nothing-here holds no faasobs files"),
        "{}",
        String::from_utf8_lossy(&empty.stderr)
    );

    let missing = s3
        .faasobs("s3://no-such-bucket/x")
        .args(["query", count])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(
        said.contains("opening s3://no-such-bucket/x (object storage is configured by")
            && said.contains("NoSuchBucket"),
        "{said}"
    );

    // Nothing is created in the working directory for a URL (no `s3:` folder).
    let cwd = tempfile::tempdir().unwrap();
    for writer in [
        vec!["ingest", "-"],
        vec!["collect"],
        vec!["compact"],
        vec!["demo"],
        vec!["tui"],
    ] {
        let refused = s3
            .faasobs("s3://telemetry/x")
            .current_dir(cwd.path())
            .args(&writer)
            .output()
            .unwrap();
        assert!(!refused.status.success(), "{writer:?}");
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(
            said.contains("local data directory, not s3://telemetry/x"),
            "{writer:?}: {said}"
        );
    }
    let unsupported = faasobs()
        .current_dir(cwd.path())
        .args(["--data", "gs://bucket/x", "query", count])
        .output()
        .unwrap();
    assert!(!unsupported.status.success());
    assert!(String::from_utf8_lossy(&unsupported.stderr).contains("s3://BUCKET/PREFIX"));
    assert_eq!(std::fs::read_dir(cwd.path()).unwrap().count(), 0);
}

#[test]
fn the_dashboard_views_a_copy_on_s3() {
    let data = sample_store();
    let s3 = S3Copy::of(data.path(), "telemetry", "faasobs");
    let url = Path::new("s3://telemetry/faasobs");
    let tmux = Tmux::start_with_env(
        "s3",
        &s3.environment(),
        url,
        "--no-listen --concurrency-limit 20",
    );
    tmux.wait_for("the sample, viewed on S3", |s| {
        s.contains("viewing s3://telemetry/faasobs") && invocations_shown(s) == Some(2415)
    });
    tmux.quit_cleanly();
}
