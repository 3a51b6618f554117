//! Golden tests: every report and a set of SQL queries over the checked-in sample data, compared
//! with the JSON files in `tests/golden/`. After an intended change, regenerate them with
//! `FAASOBS_UPDATE_GOLDEN=1 cargo test --test integration reports_golden` and review the diff.

use std::path::Path;

use crate::support::{
    Deployment, faasobs, faasobs_at, faasobs_ok, query_json, root, sample_store,
    store_of_one_function_deployed,
};

fn check_golden(name: &str, actual: &serde_json::Value) {
    let path = root().join("tests/golden").join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(actual).unwrap() + "\n";
    if std::env::var_os("FAASOBS_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (FAASOBS_UPDATE_GOLDEN=1 writes it)",
            path.display()
        )
    });
    let expected: serde_json::Value = serde_json::from_str(&expected).unwrap();
    assert!(
        &expected == actual,
        "{name} differs from {}:\n{text}",
        path.display()
    );
}

fn report(data: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["report"];
    all.extend(args);
    all.extend(["--format", "json"]);
    crate::support::faasobs_json(data, &all)
}

fn total(rows: &serde_json::Value, column: &str) -> i64 {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r[column].as_i64().unwrap())
        .sum()
}

/// A selection of reports: one function of the sample, over three of its ten minutes.
const ONE_FUNCTION_FOR_3_MINUTES: [&str; 6] = [
    "--function",
    "image-resize",
    "--since",
    "2026-11-23T09:02:00Z",
    "--until",
    "2026-11-23T09:05:00Z",
];
#[test]
fn every_report_over_the_sample_matches_its_golden_file() {
    let store = sample_store();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root().join("sample-traces/data/manifest.json")).unwrap(),
    )
    .unwrap();

    let summary = report(store.path(), &["summary"]);
    assert_eq!(
        total(&summary["by_function"], "invocations"),
        manifest["invocations"]
    );
    assert_eq!(
        total(&summary["by_function"], "cold_starts"),
        manifest["cold_starts"]
    );
    check_golden("report-summary", &summary);

    let coldstarts = report(store.path(), &["coldstarts"]);
    assert_eq!(
        total(&coldstarts["by_function"], "cold_starts"),
        manifest["cold_starts"]
    );
    let first = &coldstarts["by_function"][0];
    for field in [
        "function_name",
        "invocations",
        "cold_starts",
        "cold_start_rate",
        "init_p50_ms",
        "init_p99_ms",
    ] {
        assert!(first.get(field).is_some(), "coldstarts rows carry {field}");
    }
    check_golden("report-coldstarts", &coldstarts);
    assert_eq!(report(store.path(), &["cold-starts"]), coldstarts);

    let errors = report(store.path(), &["errors"]);
    let by_status = &manifest["by_status"];
    let failures = total(&errors["groups"], "count");
    assert_eq!(failures, 2415 - by_status["success"].as_i64().unwrap());
    check_golden("report-errors", &errors);

    let concurrency = report(store.path(), &["concurrency", "--step", "1m"]);
    let peaks = concurrency["peaks"].as_array().unwrap();
    assert!(peaks.iter().any(|p| p["function_name"] == "(all)"));
    for field in ["function_name", "peak_concurrency", "peak_time"] {
        assert!(
            peaks[0].get(field).is_some(),
            "concurrency rows carry {field}"
        );
    }
    check_golden("report-concurrency", &concurrency);

    let filtered = report(
        store.path(),
        &[&["summary"][..], &ONE_FUNCTION_FOR_3_MINUTES].concat(),
    );
    check_golden("report-summary-filtered", &filtered);
}

/// Typed attribute values print as their value in tables and CSV, at the top of a map or deep
/// in an event's; not as a struct of one leaf per type, all but one empty.
#[test]
fn attribute_values_print_as_their_value() {
    let store = sample_store();
    let sql = "SELECT attributes, events, attributes['http.response.status_code'] AS code \
               FROM spans WHERE cardinality(events) > 0 ORDER BY start_time LIMIT 1";
    for format in ["csv", "table"] {
        let (stdout, _) = faasobs_ok(store.path(), &["query", "--format", format, sql]);
        for expected in [
            "rpc.system: aws-api",
            "http.response.status_code: 429",
            "attributes: {exception.type: TooManyRequestsException",
        ] {
            assert!(stdout.contains(expected), "{format}: {expected}: {stdout}");
        }
        assert!(!stdout.contains("string: "), "{format}: {stdout}");
        assert!(!stdout.contains("int: "), "{format}: {stdout}");
    }
    let (csv, _) = faasobs_ok(store.path(), &["query", "--format", "csv", sql]);
    assert!(csv.trim_end().ends_with(",429"), "{csv}");
}

/// faasobs' own log, written to a pipe or a file, carries no terminal colour codes.
#[test]
fn the_log_has_no_colour_codes_off_a_terminal() {
    let store = sample_store();
    let run = faasobs_at(store.path())
        .args(["-v", "report", "summary"])
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&run.get_output().stderr);
    assert!(stderr.contains(" DEBUG "), "{stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr}");
}

/// `faasobs summary` takes the options of `report summary` and prints its one table's rows
/// alone: the same rows, without the section around them.
#[test]
fn summary_is_the_summary_report_with_its_options() {
    let store = sample_store();
    let selection = [&ONE_FUNCTION_FOR_3_MINUTES[..], &["--format", "json"]].concat();
    let (report, _) = faasobs_ok(
        store.path(),
        &[&["report", "summary"][..], &selection].concat(),
    );
    let (summary, _) = faasobs_ok(store.path(), &[&["summary"][..], &selection].concat());
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(summary, report["by_function"], "{summary}");
    assert_eq!(summary.as_array().map(Vec::len), Some(1), "{summary}");
    let (csv, _) = faasobs_ok(store.path(), &["summary", "--format", "csv"]);
    assert!(csv.starts_with("function_name,invocations,"), "{csv}");
    assert_eq!(csv.lines().count(), 7, "a header and six functions: {csv}");
}

/// A window whose end is not after its start is refused, not answered with empty tables: with
/// durations counting back from now, `--since 1h --until 2h` is an easy slip. So are a `--step`
/// of zero and a `--limit` below one.
#[test]
fn a_window_that_ends_before_it_starts_and_steps_or_limits_below_one_are_refused() {
    let store = sample_store();
    for args in [
        &["report", "summary", "--since", "1h", "--until", "2h"][..],
        &[
            "cost",
            "report",
            "--since",
            "2026-11-23T09:05:00Z",
            "--until",
            "2026-11-23T09:05:00Z",
        ],
    ] {
        let out = faasobs()
            .arg("--data")
            .arg(store.path())
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("is not after --since"), "{stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // So are buckets of no width and a concurrency limit below one.
    for (args, error) in [
        (
            ["report", "errors", "--step", "0s"],
            "a step of 0 makes no time buckets",
        ),
        (
            ["report", "concurrency", "--limit", "-5"],
            "\"-5\" is no concurrency limit",
        ),
        // Too many buckets, said in the units the flags take.
        (
            ["report", "concurrency", "--step", "1us"],
            "a step of 1us over 9m 58s gives more than 1000000 buckets",
        ),
    ] {
        let run = faasobs_at(store.path()).args(args).assert().failure();
        let stderr = String::from_utf8_lossy(&run.get_output().stderr);
        assert!(stderr.contains(error), "{args:?}: {stderr}");
    }
}

#[test]
fn the_concurrency_sweep_agrees_with_a_brute_force_self_join_on_the_sample() {
    let store = sample_store();
    // The definition, written as the self-join faasobs itself never runs: the concurrency at
    // each start instant, maximised.
    let brute = query_json(
        store.path(),
        "SELECT a.function_name, max(c) AS peak FROM (\
           SELECT a.function_name, a.start_time, count(*) AS c FROM invocations a \
           JOIN invocations b ON a.function_name = b.function_name \
             AND b.start_time <= a.start_time AND a.start_time < b.end_time \
           WHERE a.end_time > a.start_time GROUP BY a.function_name, a.start_time) a \
         GROUP BY a.function_name ORDER BY a.function_name",
    );
    let sweep = query_json(
        store.path(),
        "SELECT function_name, peak_concurrency(start_time, end_time) AS peak FROM invocations \
         GROUP BY function_name ORDER BY function_name",
    );
    assert_eq!(brute, sweep);
    let report = report(store.path(), &["concurrency"]);
    for row in &sweep {
        let peak = report["peaks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["function_name"] == row["function_name"])
            .unwrap();
        assert_eq!(peak["peak_concurrency"], row["peak"]);
    }
}

#[test]
fn sql_queries_over_the_sample_match_their_golden_files() {
    let store = sample_store();
    let queries = [
        (
            "sql-status-counts",
            "SELECT status, count(*) AS n FROM invocations GROUP BY status ORDER BY status",
        ),
        (
            "sql-cold-by-function",
            "SELECT function_name, sum(CASE WHEN cold_start THEN 1 ELSE 0 END) AS cold, round(avg(init_duration_ms), 3) AS mean_init_ms FROM invocations GROUP BY 1 ORDER BY 1",
        ),
        (
            "sql-peak-concurrency",
            "SELECT function_name, peak_concurrency(start_time, end_time) AS peak, peak_concurrency_time(start_time, end_time) AS at FROM invocations GROUP BY 1 ORDER BY 1",
        ),
        (
            "sql-spans-by-kind",
            "SELECT kind, status_code, count(*) AS n FROM spans GROUP BY 1, 2 ORDER BY 1, 2",
        ),
        (
            "sql-log-sources",
            "SELECT source, count(*) AS n, count(request_id) AS with_request FROM logs GROUP BY 1 ORDER BY 1",
        ),
        (
            "sql-exact-percentiles",
            "SELECT function_name, percentile_cont(duration_ms, 0.5) AS p50, percentile_cont(duration_ms, 0.99) AS p99 FROM invocations GROUP BY 1 ORDER BY 1",
        ),
    ];
    for (name, sql) in queries {
        let rows = query_json(store.path(), sql);
        check_golden(
            name,
            &serde_json::Value::Array(rows.into_iter().map(serde_json::Value::Object).collect()),
        );
    }
}

/// Over a data directory without any rows (a first run, or a `--data` naming the wrong folder),
/// the reading commands print their tables' columns and say the directory holds nothing, or that
/// it does not exist (and leave it so).
#[test]
fn reports_over_an_empty_store_print_their_columns_and_say_it_holds_nothing() {
    let empty = tempfile::tempdir().unwrap();
    let (stdout, stderr) = faasobs_ok(empty.path(), &["report", "summary"]);
    assert!(
        stdout.contains("| function_name | invocations |"),
        "{stdout}"
    );
    assert!(stderr.contains("holds no data yet"), "{stderr}");
    let sql = "SELECT function_name, count(*) AS n FROM invocations GROUP BY 1";
    let (stdout, _) = faasobs_ok(empty.path(), &["query", "--format", "csv", sql]);
    // The header alone, with no blank line after it that a CSV reader would take for a row.
    assert_eq!(stdout, "function_name,n\n");
    let out = faasobs()
        .arg("--data")
        .arg(empty.path())
        .arg("sql")
        .write_stdin("SELECT function_name FROM invocations;\n")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("| function_name |\n"), "{stdout}");
    assert!(stdout.contains("(0 rows)"), "{stdout}");

    // A mistyped `--data` reads as empty too, is said to be missing, and is not created.
    let typo = empty.path().join("typo");
    let (stdout, stderr) = faasobs_ok(&typo, &["report", "summary"]);
    assert!(
        stdout.contains("| function_name | invocations |"),
        "{stdout}"
    );
    assert!(stderr.contains("typo does not exist"), "{stderr}");
    let (_, stderr) = faasobs_ok(&typo, &["cost", "report"]);
    assert!(stderr.contains("typo does not exist"), "{stderr}");
    assert!(!typo.exists(), "reading created {}", typo.display());

    let store = sample_store();
    let (_, stderr) = faasobs_ok(store.path(), &["report", "summary"]);
    assert!(!stderr.contains("holds no data"), "{stderr}");
    assert!(!stderr.contains("does not exist"), "{stderr}");
}

/// A report whose `--function` or window selects nothing says why on standard error: a function
/// name not stored (with the nearest one and those there are), or no invocations in the window.
/// A report with rows says nothing.
#[test]
fn an_empty_selection_says_why_it_is_empty() {
    let store = sample_store();
    let (stdout, stderr) = faasobs_ok(
        store.path(),
        &["report", "summary", "--function", "checkout"],
    );
    assert!(
        stdout.contains("| function_name | invocations |"),
        "{stdout}"
    );
    assert!(
        stderr.contains(
            "note: no function named \"checkout\" has invocations stored (did you mean \
             checkout-api?); the functions that do are: auth-edge, checkout-api, image-resize,"
        ),
        "{stderr}"
    );
    let (_, stderr) = faasobs_ok(store.path(), &["report", "errors", "--function", "zzz"]);
    assert!(
        stderr.contains("\"zzz\" has invocations stored; the"),
        "{stderr}"
    );

    // A cost report always lists its assumptions; its spend is what is empty.
    let (_, stderr) = faasobs_ok(
        store.path(),
        &[
            "cost",
            "report",
            "--since",
            "2020-01-01T00:00:00Z",
            "--until",
            "2020-01-02T00:00:00Z",
        ],
    );
    assert!(
        stderr.contains(
            "note: no invocations started in the window --since 2020-01-01T00:00:00Z --until \
             2020-01-02T00:00:00Z"
        ),
        "{stderr}"
    );
    let (_, stderr) = faasobs_ok(
        store.path(),
        &[
            "report",
            "coldstarts",
            "--function",
            "auth-edge",
            "--since",
            "1h",
        ],
    );
    assert!(
        stderr.contains("no invocations of \"auth-edge\" started in the window --since 1h"),
        "{stderr}"
    );

    // Dates alone are days in UTC: the sample's day holds it all.
    for args in [
        &["report", "summary", "--function", "checkout-api"][..],
        &["cost", "report"][..],
        &[
            "report",
            "summary",
            "--since",
            "2026-11-23",
            "--until",
            "2026-11-24",
        ][..],
    ] {
        let (stdout, stderr) = faasobs_ok(store.path(), args);
        assert!(stdout.contains("checkout-api"), "{stdout}");
        assert!(!stderr.contains("note:"), "{args:?}: {stderr}");
    }
}

/// A function name deployed in two regions and two accounts is one row of each report, adding
/// them together: every report says so on standard error and names the flags that pick one
/// place, `--region` and `--account` pick it, and a place nothing ran in is said to be empty
/// with the places there are.
#[test]
fn a_function_in_several_regions_and_accounts_is_warned_of_and_each_place_can_be_picked() {
    let deployment = |region, account| Deployment {
        region,
        account,
        memory_mb: 1024,
        duration_ms: 120,
    };
    let store = store_of_one_function_deployed(&[
        deployment("us-east-1", "111111111111"),
        deployment("eu-west-1", "111111111111"),
        deployment("us-east-1", "222222222222"),
    ]);
    let summary = |args: &[&str]| {
        let mut all = vec!["summary", "--format", "json"];
        all.extend(args);
        let (stdout, stderr) = faasobs_ok(store.path(), &all);
        let rows: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let row = &rows.as_array().unwrap()[0];
        let numbers = (
            row["invocations"].as_i64().unwrap(),
            row["peak_concurrency"].as_i64().unwrap(),
        );
        (numbers, stderr)
    };
    // The three deployments start in the same minutes: together they peak at 3.
    let (numbers, stderr) = summary(&[]);
    assert_eq!(numbers, (90, 3));
    assert!(
        stderr.contains(
            "warning: orders-api ran in 2 regions (eu-west-1, us-east-1) and 2 accounts \
             (111111111111, 222222222222): its rows add them together; --region and --account \
             pick one"
        ),
        "{stderr}"
    );
    let (numbers, stderr) = summary(&["--region", "us-east-1"]);
    assert_eq!(numbers, (60, 2));
    assert!(
        stderr.contains("ran in 2 accounts (111111111111, 222222222222)")
            && stderr.contains("--account picks one"),
        "{stderr}"
    );
    let (numbers, stderr) = summary(&["--region", "us-east-1", "--account", "222222222222"]);
    assert_eq!(numbers, (30, 1));
    assert!(!stderr.contains("warning"), "{stderr}");

    // The concurrency report's account-wide rows add up every place too.
    let (_, stderr) = faasobs_ok(store.path(), &["report", "concurrency", "--step", "1h"]);
    assert!(
        stderr.contains(
            "warning: the (all) rows add up invocations of 2 regions (eu-west-1, us-east-1) and \
             2 accounts (111111111111, 222222222222), while Lambda's concurrency limit is per \
             account and region"
        ),
        "{stderr}"
    );
    let peaks = report(
        store.path(),
        &["concurrency", "--step", "1h", "--region", "eu-west-1"],
    );
    assert_eq!(total(&peaks["peaks"], "peak_concurrency"), 2, "{peaks:#}");

    // A cost report's spend per function warns alike; spend per day has no function's rows.
    // (The built-in catalog prices us-east-1 only.)
    let (_, stderr) = faasobs_ok(
        store.path(),
        &[
            "cost",
            "report",
            "--region",
            "us-east-1",
            "--format",
            "json",
        ],
    );
    assert!(
        stderr.contains("warning: orders-api ran in 2 accounts"),
        "{stderr}"
    );
    let (_, stderr) = faasobs_ok(
        store.path(),
        &["cost", "report", "--region", "us-east-1", "--by", "day"],
    );
    assert!(!stderr.contains("ran in"), "{stderr}");

    // A place nothing ran in.
    let (_, stderr) = faasobs_ok(
        store.path(),
        &[
            "report",
            "errors",
            "--region",
            "eu-central-1",
            "--account",
            "111111111111",
        ],
    );
    assert!(
        stderr.contains(
            "note: no invocations in region eu-central-1 of account 111111111111 started; the \
             regions stored are: eu-west-1, us-east-1"
        ),
        "{stderr}"
    );

    // The sample runs in one region of one account: nothing to warn of.
    let sample = sample_store();
    for args in [
        &["summary"][..],
        &["report", "concurrency", "--step", "1h"][..],
    ] {
        let (_, stderr) = faasobs_ok(sample.path(), args);
        assert!(!stderr.contains("warning"), "{args:?}: {stderr}");
    }
}

/// Each statement of the shell sees what was stored since the shell started: an invocation
/// imported between two statements is counted by the second. (The shell opens the store again
/// before a statement when its opening is more than a second old.)
#[test]
fn the_sql_shell_sees_what_is_stored_between_its_statements() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;

    let store = sample_store();
    let mut shell = std::process::Command::new(faasobs().get_program())
        .arg("--data")
        .arg(store.path())
        .arg("sql")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = shell.stdin.take().unwrap();
    let mut stdout = BufReader::new(shell.stdout.take().unwrap());
    let mut count = |stdin: &mut std::process::ChildStdin| {
        writeln!(stdin, "SELECT count(*) AS n FROM invocations;").unwrap();
        let mut table = String::new();
        loop {
            let mut line = String::new();
            assert!(stdout.read_line(&mut line).unwrap() > 0, "{table}");
            if line.starts_with('(') {
                break;
            }
            table.push_str(&line);
        }
        table
            .lines()
            .filter_map(|line| {
                line.trim_matches(|c| c == '|' || c == ' ')
                    .parse::<u64>()
                    .ok()
            })
            .next()
            .unwrap_or_else(|| panic!("no count in {table}"))
    };
    let before = count(&mut stdin);
    assert_eq!(before, 2415);
    faasobs_at(store.path())
        .arg("ingest")
        .arg(crate::support::real_fixture(
            "datadog-cloudwatch-log-coldstart.json",
        ))
        .assert()
        .success();
    // Past the reopening age, however fast the import was.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(count(&mut stdin), before + 1);
    drop(stdin);
    assert!(shell.wait().unwrap().success());
}
#[test]
fn the_sql_shell_reads_statements_lists_and_describes_tables_and_stays_read_only() {
    let store = sample_store();
    let out = faasobs()
        .arg("--data")
        .arg(store.path())
        .arg("sql")
        .write_stdin(
            "SELECT count(*) AS n\nFROM invocations; SELECT 'a;b' AS s;\n\\dt\n\\d invocations\n\\d nope\nDROP TABLE spans;\nSELECT 41 + 1 AS answer\n",
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("| 2415 |"), "{stdout}");
    assert!(
        stdout.contains("| a;b |"),
        "a line's second statement runs, its string's ';' kept: {stdout}"
    );
    // Statements read from a script: every one runs, errors say the line they begin on, and
    // the shell exits with a failure when any failed.
    assert!(!out.status.success());
    assert!(
        stderr.contains("error: line 5: no table named \"nope\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: line 6: queries are read-only"),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("error: 2 of 7 statements failed\n"),
        "the four statements and the three commands that query: {stderr}"
    );
    assert!(stdout.contains("| invocations          | VIEW"), "{stdout}");
    assert!(stdout.contains("| cold_start "), "{stdout}");
    assert!(
        stdout.contains("| 42 "),
        "the last statement runs without a ';': {stdout}"
    );
    assert!(stderr.contains("no table named \"nope\""), "{stderr}");
    assert!(stderr.contains("read-only"), "{stderr}");
}

#[test]
fn a_query_over_its_memory_limit_fails_cleanly_and_the_same_query_runs_with_room() {
    let store = sample_store();
    let sql = "SELECT body, count(*) AS n FROM logs GROUP BY body ORDER BY n DESC, body LIMIT 3";
    let out = faasobs()
        .arg("--data")
        .arg(store.path())
        .args(["query", "--memory-limit-mb", "1", sql])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    // What to do first, then DataFusion's account of it.
    let hint = "the query needs more memory than its limit of 1 MiB: give it more with \
                --memory-limit-mb";
    assert!(stderr.starts_with(&format!("error: {hint}")), "{stderr}");
    assert!(stderr.contains("Resources exhausted"), "{stderr}");
    assert_eq!(query_json(store.path(), sql).len(), 3);
    // The shell says the same of a statement, and goes on.
    let out = faasobs()
        .arg("--data")
        .arg(store.path())
        .args(["sql", "--memory-limit-mb", "1"])
        .write_stdin(format!("{sql};\nSELECT 1 AS one;\n"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!("error: line 1: {hint}")),
        "{stderr}"
    );
    assert!(stderr.contains("Resources exhausted"), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("| 1   |"),
        "{out:?}"
    );
    // An error of another kind has no such hint.
    let out = faasobs()
        .arg("--data")
        .arg(store.path())
        .args([
            "query",
            "--memory-limit-mb",
            "1",
            "SELECT nothing FROM logs",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && !stderr.contains(hint), "{stderr}");
}

/// A result is written a batch at a time: a table shows its first `--max-rows` rows and counts
/// the rest (it held every row before, 2.7 GB for half a million log lines), the other formats
/// write every row, and so does the SQL shell's table with its own `--max-rows`.
#[test]
fn a_large_result_is_streamed_and_a_table_shows_its_first_rows() {
    let store = sample_store();
    let logs = query_json(store.path(), "SELECT count(*) AS n FROM logs")[0]["n"]
        .as_u64()
        .unwrap() as usize;
    assert!(logs > 10_000, "{logs}");
    let sql = "SELECT time, body FROM logs ORDER BY time, body";

    let out = faasobs_at(store.path())
        .args(["query", sql, "--max-rows", "5"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Header, its two rules and the closing one, and five rows.
    assert_eq!(stdout.lines().count(), 4 + 5, "{stdout}");
    assert!(
        stderr.contains(&format!("showing the first 5 of {logs} rows: --max-rows N")),
        "{stderr}"
    );

    let all = faasobs_at(store.path())
        .args(["query", sql, "--max-rows", "0"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&all.stdout).lines().count(),
        4 + logs
    );
    assert!(!String::from_utf8_lossy(&all.stderr).contains("showing"));

    for (format, lines) in [("csv", 1 + logs), ("ndjson", logs)] {
        let out = faasobs_at(store.path())
            .args(["query", sql, "--format", format])
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text.lines().count(), lines, "{format}");
        assert!(text.ends_with('\n') && !text.ends_with("\n\n"), "{format}");
    }
    let json = faasobs_at(store.path())
        .args(["query", sql, "--format", "json"])
        .output()
        .unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), logs);

    // A query that fails part way leaves the file of that name as it was, and nothing beside.
    let files = tempfile::tempdir().unwrap();
    let kept = files.path().join("out.csv");
    std::fs::write(&kept, "kept\n").unwrap();
    for format in ["csv", "parquet", "table"] {
        let out = faasobs_at(store.path())
            .args([
                "query",
                "SELECT CAST(body AS INT) FROM logs",
                "--format",
                format,
            ])
            .arg("--output")
            .arg(&kept)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{format}");
        assert_eq!(
            std::fs::read_to_string(&kept).unwrap(),
            "kept\n",
            "{format}"
        );
        assert_eq!(
            std::fs::read_dir(files.path()).unwrap().count(),
            1,
            "{format}"
        );
    }

    let shell = faasobs_at(store.path())
        .args(["sql", "--max-rows", "3"])
        .write_stdin(format!("{sql};\n"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&shell.stdout);
    assert!(
        stdout.contains(&format!("({logs} rows; the first 3 shown (--max-rows))")),
        "{stdout}"
    );
}

/// A reader that stops reading (`| head -1`) ends the output quietly: it panicked on the first
/// line it could not write, with a backtrace, and exited 101.
#[test]
fn output_cut_short_by_its_reader_ends_quietly() {
    use std::io::BufRead;
    let store = sample_store();
    for args in [
        vec!["query", "SELECT * FROM logs", "--format", "csv"],
        vec!["query", "SELECT * FROM logs", "--max-rows", "0"],
        vec!["query", "SELECT * FROM spans", "--format", "json"],
    ] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("faasobs"))
            .arg("--data")
            .arg(store.path())
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty(), "{args:?}");
        // The pipe's reader is gone; what is left to print (megabytes for the logs) meets a
        // closed pipe.
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
