//! Real captured Lambda logs (see ../shared/fixtures/real/SOURCES.md) through `faasobs ingest`.

use crate::support::{catalog_listing, faasobs, faasobs_at, faasobs_ok, query_json, real_fixture};

fn ingest(
    name: &str,
) -> (
    tempfile::TempDir,
    Vec<serde_json::Map<String, serde_json::Value>>,
) {
    let dir = tempfile::tempdir().unwrap();
    faasobs()
        .arg("--data")
        .arg(dir.path())
        .arg("ingest")
        .arg(real_fixture(name))
        .assert()
        .success();
    let rows = query_json(
        dir.path(),
        "SELECT function_name, request_id, duration_ms, billed_duration_ms, memory_size_mb, \
         max_memory_used_mb, init_duration_ms, cold_start, status, instance_id, \
         encode(trace_id, 'hex') AS trace, account_id FROM invocations ORDER BY request_id",
    );
    (dir, rows)
}

/// The value of a cost report's (JSON) assumption `name`.
fn assumption(report: &serde_json::Value, name: &str) -> Option<serde_json::Value> {
    report["assumptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["assumption"] == name)
        .map(|a| a["value"].clone())
}

#[test]
fn a_cold_start_report_from_cloudwatch() {
    let (_dir, rows) = ingest("datadog-cloudwatch-log-coldstart.json");
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r["function_name"], "storms-cloudwatch-event");
    assert_eq!(r["request_id"], "db275f87-a934-471a-8980-b63bf4dc1beb");
    assert_eq!(r["duration_ms"], 1.76);
    assert_eq!(r["billed_duration_ms"], 100);
    assert_eq!(r["memory_size_mb"], 128);
    assert_eq!(r["max_memory_used_mb"], 48);
    assert_eq!(r["init_duration_ms"], 120.96);
    assert_eq!(r["cold_start"], true);
    assert_eq!(r["status"], "success");
    assert_eq!(
        r["instance_id"],
        "2020/06/04/[$LATEST]af2b1e1843b84a2d80c67840ae3ffa72"
    );
    // The subscription's owner is the account the function runs in.
    assert_eq!(r["account_id"], "601427279990");
}

#[test]
fn a_timeout_from_cloudwatch() {
    let (_dir, rows) = ingest("datadog-cloudwatch-log-timeout.json");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "timeout");
    assert_eq!(rows[0]["billed_duration_ms"], 3000);
    assert_eq!(rows[0]["duration_ms"], 3003.16);
}

#[test]
fn a_node_invocation_with_its_xray_trace_and_log_lines() {
    let (dir, rows) = ingest("datadog-cloudwatch-logs-node.json");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["function_name"], "hello-dog-node-dev-hello12x");
    assert_eq!(rows[0]["cold_start"], false);
    assert_eq!(rows[0]["trace"], "5e61292ccc1229a4dfbeae1043928548");
    let logs = query_json(
        dir.path(),
        "SELECT count(*) AS n, count(request_id) AS with_id FROM logs",
    );
    // 19 events; the REPORT event holds two lines (REPORT and XRAY).
    assert_eq!(logs[0]["n"], 20);
    // Three lines are Datadog metric JSON printed without the runtime prefix: no request id.
    assert_eq!(logs[0]["with_id"], 17);
}

#[test]
fn the_awslogs_envelope_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    faasobs()
        .arg("--data")
        .arg(dir.path())
        .arg("ingest")
        .arg(real_fixture(
            "awslambda-rust-runtime-cloudwatch-logs-event.json",
        ))
        .assert()
        .success();
    let logs = query_json(
        dir.path(),
        "SELECT function_name, body FROM logs ORDER BY time",
    );
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[0]["function_name"], "testLogGroup");
    assert_eq!(logs[0]["body"], "[ERROR] First test message");
}

/// A file of no known format is named in the error; a first import that stored nothing leaves
/// no data directory behind, and one that had a store before leaves it as it was.
#[test]
fn a_file_of_no_known_format_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("notes.txt");
    std::fs::write(&bad, "just some words\n").unwrap();
    // Nested: the folders made for the data directory go with it.
    let data = dir.path().join("a/b/d");
    let import = || faasobs_at(&data).arg("ingest").arg(&bad).output().unwrap();
    let out = import();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("notes.txt") && stderr.contains("not a format"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("was not created"), "{stdout}");
    assert!(
        !dir.path().join("a").exists(),
        "an import that stored nothing created {}",
        data.display()
    );

    std::fs::create_dir_all(&data).unwrap();
    let out = import();
    assert!(!out.status.success());
    assert!(data.is_dir(), "an existing data directory was removed");
}

/// A path that does not exist is refused before the store is opened: nothing is created or
/// stored, not even the inputs named beside it that do exist.
#[test]
fn a_missing_input_is_refused_before_anything_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let out = faasobs()
        .arg("--data")
        .arg(&data)
        .arg("ingest")
        .arg(real_fixture("datadog-cloudwatch-log-coldstart.json"))
        .arg(dir.path().join("typo.ndjson"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no such file or folder") && stderr.contains("typo.ndjson"),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!data.exists(), "the store was created");
}

/// Importing the same unchanged file into the same data directory again skips it (its log lines
/// have no id to merge by, so they would be stored twice); `--again` imports it anyway, and a
/// file that changed is imported again. The same bytes written again or copied elsewhere are
/// skipped too, as is the second of two inputs with the same bytes.
#[test]
fn an_unchanged_file_imported_again_is_skipped_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let copy = dir.path().join("node.json");
    std::fs::copy(real_fixture("datadog-cloudwatch-logs-node.json"), &copy).unwrap();
    let import = |extra: &[&str]| {
        let mut args = vec!["ingest", copy.to_str().unwrap()];
        args.extend(extra);
        faasobs_ok(&data, &args)
    };
    let count = || {
        query_json(
            &data,
            "SELECT (SELECT count(*) FROM logs) AS logs, (SELECT count(*) FROM invocations) AS invocations",
        )[0]
            .clone()
    };
    let (stdout, _) = import(&[]);
    assert!(!stdout.contains("stored 0 records"), "{stdout}");
    let first = count();
    assert!(first["logs"].as_i64().unwrap() > 0, "{first:?}");
    assert!(data.join("imported.ndjson").exists());

    let (stdout, stderr) = import(&[]);
    assert!(stdout.contains("nothing to import"), "{stdout}");
    assert!(
        stderr.contains("skipping 1 inputs imported into this data directory before")
            && stderr.contains("node.json (imported "),
        "{stderr}"
    );
    assert_eq!(count(), first);

    // Named twice in one run, it is read once.
    let (_, stderr) = import(&["--again", copy.to_str().unwrap()]);
    assert!(stderr.contains("(named twice)"), "{stderr}");
    let again = count();
    assert_eq!(
        again["logs"].as_i64().unwrap(),
        2 * first["logs"].as_i64().unwrap()
    );
    assert_eq!(again["invocations"], first["invocations"]);

    // Changed (a line appended), the file is another input and is imported again whole.
    let mut text = std::fs::read_to_string(&copy).unwrap();
    text.push('\n');
    std::fs::write(&copy, text).unwrap();
    let (stdout, stderr) = import(&[]);
    assert!(!stderr.contains("skipping"), "{stderr}");
    assert!(!stdout.contains("nothing to import"), "{stdout}");
    let stored = count();
    assert_eq!(
        stored["logs"].as_i64().unwrap(),
        3 * first["logs"].as_i64().unwrap()
    );

    // Written again with the same bytes (a new modification time), or copied to another path,
    // it is known by its bytes and skipped.
    let same = std::fs::read(&copy).unwrap();
    std::fs::write(&copy, &same).unwrap();
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&copy)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let (stdout, stderr) = import(&[]);
    assert!(stdout.contains("nothing to import"), "{stdout}");
    assert!(
        stderr.contains("node.json (the same bytes as ") && stderr.contains(", imported "),
        "{stderr}"
    );
    let other = dir.path().join("elsewhere.json");
    std::fs::copy(&copy, &other).unwrap();
    let (stdout, stderr) = faasobs_ok(&data, &["ingest", other.to_str().unwrap()]);
    assert!(stdout.contains("nothing to import"), "{stdout}");
    assert!(
        stderr.contains("elsewhere.json (the same bytes as "),
        "{stderr}"
    );
    assert_eq!(count(), stored);

    // Two new copies of new bytes in one import: the second is left out.
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    let mut text = String::from_utf8(same).unwrap();
    text.push('\n');
    std::fs::write(&a, &text).unwrap();
    std::fs::write(&b, &text).unwrap();
    let (_, stderr) = faasobs_ok(&data, &["ingest", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(
        stderr.contains("b.json (the same bytes as ") && stderr.contains("named before it)"),
        "{stderr}"
    );
    assert_eq!(
        count()["logs"].as_i64().unwrap(),
        4 * first["logs"].as_i64().unwrap()
    );
}

#[test]
fn a_datadog_instrumented_invocation_with_its_report() {
    let (_dir, rows) = ingest("datadog-cloudwatch-log-lambda_invocation.json");
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r["function_name"], "hello-dog-node-dev-hello12x");
    assert_eq!(r["request_id"], "f08bb4c8-d6b2-4f05-ac17-af7e2ba005fb");
    assert_eq!(r["duration_ms"], 619.31);
    assert_eq!(r["billed_duration_ms"], 700);
    assert_eq!(r["memory_size_mb"], 128);
    assert_eq!(r["max_memory_used_mb"], 118);
    assert_eq!(r["status"], "success");
    assert_eq!(r["trace"], "5e61292ccc1229a4dfbeae1043928548");
}

#[test]
fn powertools_logs_name_their_invocation() {
    let (dir, rows) = ingest("powertools-python-logger-output.json");
    assert_eq!(rows.len(), 1, "two log lines of one invocation: {rows:?}");
    let r = &rows[0];
    assert_eq!(r["function_name"], "test");
    assert_eq!(r["request_id"], "52fdfc07-2182-154f-163f-5f0f9a621d72");
    assert_eq!(r["memory_size_mb"], 128);
    assert_eq!(r["cold_start"], true);
    let more = query_json(
        dir.path(),
        "SELECT region, account_id, sources, start_time FROM invocations",
    );
    assert_eq!(more[0]["region"], "eu-west-1");
    assert_eq!(more[0]["account_id"], "12345678910");
    assert_eq!(more[0]["sources"], "function_log");
    let logs = query_json(
        dir.path(),
        "SELECT body, severity_text, source, request_id FROM logs ORDER BY body",
    );
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[0]["body"], "Collecting payment");
    assert_eq!(logs[0]["severity_text"], "INFO");
    assert_eq!(logs[0]["source"], "powertools");
    assert_eq!(
        logs[1]["body"],
        r#"{"charge_id":"ch_AZFlk2345C0","operation":"collect_payment"}"#
    );
}

#[test]
fn every_real_fixture_ingests_in_one_run_with_a_summary_per_format() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = real_fixture("SOURCES.md").parent().unwrap().to_path_buf();
    let mut files: Vec<_> = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 6);
    let out = faasobs()
        .arg("--data")
        .arg(dir.path())
        .arg("ingest")
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("CloudWatch Logs subscription") && summary.contains("Powertools JSON log"),
        "{summary}"
    );
    let rows = query_json(
        dir.path(),
        "SELECT count(*) AS n, sum(CASE WHEN cold_start THEN 1 ELSE 0 END) AS cold FROM invocations",
    );
    // coldstart, timeout (both cold), node (the same invocation as lambda_invocation),
    // powertools (cold).
    assert_eq!(rows[0]["n"], 4);
    assert_eq!(rows[0]["cold"], 3);

    // Their cost: Powertools' invocation, which says eu-west-1 (a region the built-in catalog
    // has no prices for) but neither a duration nor a billed one, is left unpriced rather than
    // stopping the report; the three REPORT lines are priced as the catalog's defaults.
    let (report, warnings) = faasobs_ok(dir.path(), &["cost", "report", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let assumed = |name: &str| assumption(&report, name);
    assert_eq!(assumed("unpriced invocations"), Some("1".into()));
    assert_eq!(
        assumed("invocations priced with the catalog's defaults"),
        Some("3".into())
    );
    assert!(
        warnings.contains("1 of 4 invocations lack a memory size or a duration"),
        "{warnings}"
    );
    let requests: i64 = report["months"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["requests"].as_i64().unwrap())
        .sum();
    assert_eq!(requests, 3, "{report:#}");
}

#[test]
fn standard_input_is_read_and_rejected_lines_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let log = "no timestamp here\n\
        2026-11-23T09:00:00.000Z START RequestId: 11111111-2222-3333-4444-555555555555 Version: $LATEST\n\
        2026-11-23T09:00:00.010Z REPORT RequestId: 11111111-2222-3333-4444-555555555555\tDuration: 10.00 ms\tBilled Duration: 10 ms\tMemory Size: 256 MB\tMax Memory Used: 50 MB\t\n";
    let out = faasobs()
        .arg("--data")
        .arg(dir.path())
        .args(["ingest", "--function", "stdin-fn", "-"])
        .write_stdin(log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("<stdin>:1: no timestamp"), "{summary}");
    let rows = query_json(
        dir.path(),
        "SELECT function_name, memory_size_mb FROM invocations",
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["function_name"], "stdin-fn");
    assert_eq!(rows[0]["memory_size_mb"], 256);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("name no function"),
        "a named function gets no note"
    );
}

/// Lambda text log lines say nothing of their function: from standard input without
/// `--function` they are stored under "unknown", and the import says so and how to name it.
/// The same lines imported again with the name give the invocation that name.
#[test]
fn lines_that_name_no_function_are_noted_and_a_name_given_later_wins() {
    let dir = tempfile::tempdir().unwrap();
    let log = "2026-11-23T09:00:00.000Z START RequestId: 11111111-2222-3333-4444-555555555555 Version: $LATEST\n\
        2026-11-23T09:00:00.010Z REPORT RequestId: 11111111-2222-3333-4444-555555555555\tDuration: 10.00 ms\tBilled Duration: 10 ms\tMemory Size: 256 MB\tMax Memory Used: 50 MB\t\n";
    let import = |args: &[&str]| {
        let out = faasobs_at(dir.path())
            .arg("ingest")
            .args(args)
            .arg("-")
            .write_stdin(log)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = import(&[]);
    assert!(
        stderr.contains(
            "note: <stdin>: 3 records name no function and were stored under function \"unknown\"; import it with --function NAME"
        ),
        "{stderr}"
    );
    let names = |dir: &std::path::Path| {
        query_json(dir, "SELECT function_name FROM invocations")
            .iter()
            .map(|r| r["function_name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(dir.path()), ["unknown"]);
    let stderr = import(&["--function", "stdin-fn"]);
    assert!(!stderr.contains("name no function"), "{stderr}");
    assert_eq!(names(dir.path()), ["stdin-fn"]);
}

/// Gzip-compressed inputs (as CloudWatch Logs exports to S3 and Firehose deliveries come) are
/// read as the files they hold: the real captured logs, compressed, store what they store
/// uncompressed, and the same compressed bytes at another path are skipped as imported.
#[test]
fn compressed_real_logs_store_what_they_hold() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let fixtures = [
        "datadog-cloudwatch-logs-node.json",
        "powertools-python-logger-output.json",
        "awslambda-rust-runtime-cloudwatch-logs-event.json",
    ];
    let compressed = dir.path().join("compressed");
    std::fs::create_dir(&compressed).unwrap();
    for name in fixtures {
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(compressed.join(format!("{name}.gz"))).unwrap(),
            flate2::Compression::default(),
        );
        gz.write_all(&std::fs::read(real_fixture(name)).unwrap())
            .unwrap();
        gz.finish().unwrap();
    }
    let counts = |data: &std::path::Path| {
        query_json(
            data,
            "SELECT (SELECT count(*) FROM invocations) AS invocations, \
             (SELECT count(*) FROM logs) AS logs",
        )
    };
    let plain = dir.path().join("plain");
    let fixture_paths: Vec<_> = fixtures.iter().map(|name| real_fixture(name)).collect();
    faasobs_at(&plain)
        .arg("ingest")
        .args(&fixture_paths)
        .assert()
        .success();
    let from_gzip = dir.path().join("from-gzip");
    faasobs_at(&from_gzip)
        .args(["ingest"])
        .arg(&compressed)
        .assert()
        .success();
    let expected = counts(&plain);
    assert!(expected[0]["logs"].as_i64().unwrap() > 0, "{expected:?}");
    assert_eq!(counts(&from_gzip), expected);

    let copy = dir.path().join("copy.json.gz");
    std::fs::copy(
        compressed.join("powertools-python-logger-output.json.gz"),
        &copy,
    )
    .unwrap();
    let run = faasobs_at(&from_gzip)
        .arg("ingest")
        .arg(&copy)
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&run.get_output().stderr);
    assert!(stderr.contains("(the same bytes as "), "{stderr}");
    assert_eq!(counts(&from_gzip), expected);
}

/// A real CloudWatch invocation says neither its region nor its architecture; the function as
/// `aws lambda list-functions` lists it, added to the pricing catalog, says both. Listed as
/// x86_64 in us-east-1, the invocation is priced there, in the subscription's account, without
/// the catalog's defaults; listed as arm64, its date (June 2020, before Lambda ran on arm64) has
/// no price, and the report says so rather than pricing it.
#[test]
fn a_function_listed_by_the_aws_cli_prices_a_real_invocation_that_says_no_region() {
    let (data, _) = ingest("datadog-cloudwatch-log-coldstart.json");
    let files = tempfile::tempdir().unwrap();
    let pricing_listing = |architecture: &str| {
        let (catalog, _) = catalog_listing(
            data.path(),
            &files.path().join(format!("functions-{architecture}.json")),
            &format!(
                r#"{{"Functions": [{{"FunctionName": "storms-cloudwatch-event",
                    "FunctionArn": "arn:aws:lambda:us-east-1:601427279990:function:storms-cloudwatch-event",
                    "MemorySize": 128, "Architectures": ["{architecture}"]}}]}}"#
            ),
        );
        let path = files.path().join(format!("pricing-{architecture}.toml"));
        std::fs::write(&path, catalog).unwrap();
        path
    };
    let cost_report = |pricing: &std::path::Path| {
        faasobs_at(data.path())
            .arg("--pricing")
            .arg(pricing)
            .args(["cost", "report", "--format", "json"])
            .output()
            .unwrap()
    };

    let on_x86 = cost_report(&pricing_listing("x86_64"));
    assert!(on_x86.status.success());
    let report: serde_json::Value = serde_json::from_slice(&on_x86.stdout).unwrap();
    let month = &report["months"][0];
    assert_eq!(
        [
            &month["account_id"],
            &month["region"],
            &month["architecture"]
        ],
        ["601427279990", "us-east-1", "x86_64"],
        "{report:#}"
    );
    let assumed = |name: &str| assumption(&report, name);
    assert_eq!(
        assumed("invocations priced with the catalog's defaults"),
        Some("0".into())
    );
    assert_eq!(
        assumed("invocations priced with the region or architecture of the catalog's functions"),
        Some("1".into())
    );

    let on_arm = cost_report(&pricing_listing("arm64"));
    let err = String::from_utf8_lossy(&on_arm.stderr);
    assert!(
        !on_arm.status.success() && err.contains("for aws us-east-1 arm64 on 2020-06-04"),
        "{err}"
    );
}
