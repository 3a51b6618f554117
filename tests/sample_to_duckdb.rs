//! `faasobs gen` → `faasobs ingest` → Parquet that DuckDB reads, with the documented columns and
//! exactly the generated invocations.

use crate::support::{faasobs, faasobs_ok, query_json, root, run_python, sample_store};
use faasobs_analyzer::Analyzer;
use faasobs_analyzer::invocations_view::portable_view_inputs;
use faasobs_analyzer::session::AnalyzerConfig;
use faasobs_collector::model::Table;

const DUCKDB_CHECK: &str = r#"
import duckdb, json, sys
glob = sys.argv[1] + "/invocations/**/*.parquet"
con = duckdb.connect()
rel = con.sql(f"SELECT * FROM read_parquet('{glob}')")
count = con.sql(f"SELECT count(*) FROM '{glob}'").fetchone()[0]
cold = con.sql(f"SELECT count(*) FROM '{glob}' WHERE cold_start").fetchone()[0]
by_status = dict(con.sql(f"SELECT status, count(*) FROM '{glob}' GROUP BY status").fetchall())
ids = con.sql(f"SELECT count(DISTINCT request_id) FROM '{glob}'").fetchone()[0]
types = dict(zip(rel.columns, [str(t) for t in rel.types]))
spans = con.sql(f"SELECT count(*), min(octet_length(trace_id)) FROM '{sys.argv[1]}/spans/**/*.parquet'").fetchone()
# A span's resource attributes, joined from `resources` as docs/schema.md shows.
resourced = con.sql(f"""
    SELECT count(*), count(r.resource_id),
           count(*) FILTER (WHERE coalesce(r.attributes['faas.name'].string,
                                           r.attributes['service.name'].string) = s.function_name)
    FROM '{sys.argv[1]}/spans/**/*.parquet' s
    LEFT JOIN (SELECT resource_id, any_value(attributes) AS attributes
               FROM '{sys.argv[1]}/resources/**/*.parquet' GROUP BY resource_id) r
    ON s.resource_id = r.resource_id""").fetchone()
print(json.dumps({"count": count, "distinct": ids, "cold": cold, "by_status": by_status,
                  "columns": rel.columns, "types": types, "spans": spans[0], "trace_id_len": spans[1],
                  "spans_with_resource": resourced[1], "resource_names_function": resourced[2]}))
"#;

#[test]
fn generated_sample_ingested_is_read_by_duckdb_with_every_invocation_once() {
    let dir = tempfile::tempdir().unwrap();
    let sample = dir.path().join("sample");
    let data = dir.path().join("data");
    faasobs()
        .args(["gen", "--out"])
        .arg(&sample)
        .assert()
        .success();
    faasobs()
        .arg("--data")
        .arg(&data)
        .arg("ingest")
        .arg(&sample)
        .assert()
        .success();

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sample.join("manifest.json")).unwrap()).unwrap();
    let out = run_python(DUCKDB_CHECK, &[data.to_str().unwrap()]);
    let duck: serde_json::Value = serde_json::from_str(out.trim()).unwrap();

    assert_eq!(
        duck["count"], manifest["invocations"],
        "one row per generated invocation"
    );
    assert_eq!(duck["distinct"], manifest["invocations"]);
    assert_eq!(duck["cold"], manifest["cold_starts"]);
    assert_eq!(duck["by_status"], manifest["by_status"]);
    let expected: Vec<String> = Table::Invocations
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let columns: Vec<String> = serde_json::from_value(duck["columns"].clone()).unwrap();
    assert_eq!(columns, expected);
    assert_eq!(duck["types"]["trace_id"], "BLOB");
    assert_eq!(duck["types"]["start_time"], "TIMESTAMP WITH TIME ZONE");
    assert_eq!(
        duck["trace_id_len"], 16,
        "trace ids are 16 raw bytes, not hex"
    );
    assert!(duck["spans"].as_i64().unwrap() > 0);
    // Every span's resource has a row, and it names the span's function (`faas.name`, or
    // `service.name` for the sample's frontend, which is no function).
    assert_eq!(duck["spans_with_resource"], duck["spans"]);
    assert_eq!(duck["resource_names_function"], duck["spans"]);

    // faasobs itself agrees with DuckDB.
    let rows = query_json(&data, "SELECT count(*) AS n FROM invocations");
    assert_eq!(rows[0]["n"], manifest["invocations"]);
}

#[test]
fn the_checked_in_sample_is_what_the_generator_makes_with_seed_42() {
    let dir = tempfile::tempdir().unwrap();
    faasobs()
        .args(["gen", "--seed", "42", "--out"])
        .arg(dir.path())
        .assert()
        .success();
    let checked_in = root().join("sample-traces/data");
    let mut compared = 0;
    for entry in walk(dir.path()) {
        let relative = entry.strip_prefix(dir.path()).unwrap();
        let theirs = std::fs::read(checked_in.join(relative))
            .unwrap_or_else(|_| panic!("{} is not checked in", relative.display()));
        assert!(
            theirs == std::fs::read(&entry).unwrap(),
            "{} differs",
            relative.display()
        );
        compared += 1;
    }
    assert_eq!(
        compared,
        walk(&checked_in).len(),
        "the checked-in sample has extra files"
    );
}

/// `gen` takes a start as the reports' bounds do (a date, a time in UTC, a duration ago); a
/// window with no invocation in it still gets its folder and manifest; an empty window or a
/// rate that is not positive is refused by its flag.
#[test]
fn gen_takes_dates_and_writes_an_empty_window_and_refuses_what_makes_no_workload() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sample");
    let run = faasobs()
        .args(["gen", "--start", "2026-11-20", "--duration", "1ms", "--out"])
        .arg(&out)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&run.get_output().stdout);
    assert!(
        stdout.starts_with(
            "wrote 0 invocations (0 cold starts) of 0 functions from 2026-11-20T00:00:00.000Z"
        ),
        "{stdout}"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["invocations"], 0);
    for (args, error) in [
        (
            &["--duration", "0s"][..],
            "--duration must be longer than nothing",
        ),
        (
            &["--scale", "-1"][..],
            "--scale must be a positive number, not -1",
        ),
        (
            &["--start", "yesterday"][..],
            "--start: \"yesterday\" is neither a time",
        ),
    ] {
        let run = faasobs()
            .arg("gen")
            .args(args)
            .arg("--out")
            .arg(dir.path().join("refused"))
            .assert()
            .failure();
        let stderr = String::from_utf8_lossy(&run.get_output().stderr);
        assert!(stderr.contains(error), "{args:?}: {stderr}");
    }
    assert!(!dir.path().join("refused").exists());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn ingest_without_files_imports_the_builtin_sample() {
    let dir = tempfile::tempdir().unwrap();
    faasobs()
        .arg("--data")
        .arg(dir.path())
        .arg("ingest")
        .assert()
        .success();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root().join("sample-traces/data/manifest.json")).unwrap(),
    )
    .unwrap();
    let rows = query_json(dir.path(), "SELECT count(*) AS n FROM invocations");
    assert_eq!(rows[0]["n"], manifest["invocations"]);
}

#[test]
fn sql_that_reads_or_writes_files_outside_the_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.csv");
    std::fs::write(&secret, "canary\nfaasobs-secret-canary\n").unwrap();
    let secret = secret.display().to_string();
    let written = outside.path().join("written.csv");
    let statements = [
        format!("COPY (SELECT 1) TO '{}'", written.display()),
        format!("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '{secret}'"),
        "INSERT INTO invocation_fragments SELECT * FROM invocation_fragments".to_string(),
        format!("SELECT * FROM '{secret}'"),
        format!("SELECT * FROM \"{secret}\""),
        format!("SELECT * FROM read_csv('{secret}')"),
        format!("SELECT * FROM read_parquet('{secret}')"),
        format!("SELECT * FROM read_json('{secret}')"),
        format!(
            "SET datafusion.catalog.location = '{}'",
            outside.path().display()
        ),
    ];
    for sql in &statements {
        let out = faasobs()
            .arg("--data")
            .arg(dir.path())
            .args(["query", "--format", "csv", sql])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{sql} was allowed");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        // The store is empty and says so first, in one note; then comes the one error.
        let lines: Vec<&str> = stderr.lines().collect();
        assert!(
            lines.len() == 2
                && lines[0].starts_with("note: ")
                && stderr.matches("Error during planning").count() <= 1,
            "a note, then one error, said once: {stderr}"
        );
        let all = [out.stdout, out.stderr].concat();
        assert!(
            !String::from_utf8_lossy(&all).contains("faasobs-secret-canary"),
            "{sql} read the file"
        );
    }
    assert!(!written.exists());
}

#[test]
fn a_query_result_written_as_parquet_reads_in_duckdb() {
    let dir = sample_store();
    let data = dir.path().to_path_buf();
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("cold.parquet");
    let (stdout, stderr) = faasobs_ok(
        &data,
        &[
            "query",
            "--format",
            "parquet",
            "--output",
            out.to_str().unwrap(),
            "SELECT function_name, count(*) AS cold FROM invocations WHERE cold_start GROUP BY 1",
        ],
    );
    // Standard output stays empty; standard error says what was written where.
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(stderr.trim(), format!("wrote 6 rows to {}", out.display()));
    let total = run_python(
        "import duckdb, sys; print(duckdb.sql(f\"SELECT sum(cold) FROM '{sys.argv[1]}'\").fetchone()[0])",
        &[out.to_str().unwrap()],
    );
    assert_eq!(total.trim(), "23");
    // Without --output, parquet is refused with a clear message.
    let refused = faasobs()
        .arg("--data")
        .arg(&data)
        .args(["query", "--format", "parquet", "SELECT 1"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--output"));
}

/// DuckDB, given faasobs' `invocations` view in portable SQL over the same split of the files (as
/// the benchmarks give it, through the harness's own `register_tables`), answers what faasobs
/// answers over a store with hour-merged files and late fragments beside them.
#[test]
fn duckdb_runs_the_portable_view_over_merged_files_and_late_fragments_alike() {
    let data = sample_store();
    // Late fragments for the first hour's invocations: function logs that say they failed, in a
    // file that is not hour-merged (a query result written as Parquet, with the stored schema).
    let hour_dir = first_hour_dir(&data.path().join("invocations"));
    let hour = hour_dir
        .strip_prefix(data.path().join("invocations"))
        .unwrap()
        .to_string_lossy()
        .replace(std::path::MAIN_SEPARATOR, " ");
    let late = hour_dir.join("09999999999999999999-09999999999999999999.parquet");
    faasobs()
        .arg("--data")
        .arg(data.path())
        .args(["query", "--format", "parquet", "--output"])
        .arg(&late)
        .arg(format!(
            "SELECT * REPLACE ('error' AS status, 'function_log' AS sources) \
             FROM invocation_fragments \
             WHERE to_char(start_time, '%Y-%m-%d %H') = '{hour}' AND status = 'success' \
             ORDER BY request_id LIMIT 25"
        ))
        .assert()
        .success();

    let files = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(Analyzer::open(data.path(), AnalyzerConfig::default()))
        .unwrap()
        .invocation_files()
        .clone();
    let unmerged: Vec<_> = files
        .unmerged
        .iter()
        .map(|url| url.get_url().to_file_path().unwrap())
        .collect();
    assert_eq!(unmerged, vec![late.canonicalize().unwrap()]);
    assert!(files.inputs.hour_merged && files.inputs.unmerged);
    let job = serde_json::json!({
        "data": data.path(),
        "invocations": portable_view_inputs(&files),
    });
    let sql = "SELECT request_id, status, sources, cold_start FROM invocations ORDER BY request_id";
    let duckdb = run_python(
        DUCKDB_PORTABLE_VIEW,
        &[
            root().join("src/commands/bench").to_str().unwrap(),
            &job.to_string(),
            sql,
        ],
    );
    let duckdb: Vec<serde_json::Value> = serde_json::from_str(duckdb.trim()).unwrap();
    let ours: Vec<serde_json::Value> = query_json(data.path(), sql)
        .into_iter()
        .map(|row| {
            serde_json::json!([
                row["request_id"],
                row["status"],
                row["sources"],
                row["cold_start"]
            ])
        })
        .collect();
    assert_eq!(ours.len(), 2415, "one row per invocation");
    assert_eq!(duckdb, ours);
    let failed_late = ours
        .iter()
        .filter(|r| r[1] == "error" && r[2].as_str().unwrap().contains("function_log"))
        .count();
    assert_eq!(failed_late, 25, "the late fragments are merged in");
}

const DUCKDB_PORTABLE_VIEW: &str = r#"
import duckdb, json, sys
sys.path.insert(0, sys.argv[1])
import duckdb_side
con = duckdb.connect()
duckdb_side.register_tables(con, json.loads(sys.argv[2]))
print(json.dumps([list(r) for r in con.execute(sys.argv[3]).fetchall()]))
"#;

fn first_hour_dir(table: &std::path::Path) -> std::path::PathBuf {
    let first = |dir: &std::path::Path| {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .collect();
        entries.sort();
        entries.remove(0)
    };
    first(&first(table))
}

const DUCKDB_MERGED_HOURS: &str = r#"
import duckdb, json, sys
glob = sys.argv[1] + "/invocations/**/*.parquet"
con = duckdb.connect()
count, distinct, cold = con.sql(
    f"SELECT count(*), count(DISTINCT request_id), count(*) FILTER (WHERE cold_start) FROM '{glob}'"
).fetchone()
keys = con.sql(
    f"SELECT file_name, list(decode(key) ORDER BY decode(key)) FROM parquet_kv_metadata('{glob}') GROUP BY 1"
).fetchall()
print(json.dumps({"count": count, "distinct": distinct, "cold": cold,
                  "keys": sorted(k for _, k in keys)}))
"#;

/// Powertools log lines of invocations `ids`, 12 s apart from 09:00 (1,500 to five hours, and
/// then again from 09:00), every fifth a cold start.
fn powertools_lines(ids: std::ops::Range<usize>) -> String {
    ids.map(|i| {
        let seconds = i % 1500 * 12;
        format!(
            r#"{{"cold_start":{},"function_memory_size":512,"function_name":"orders-{}","function_request_id":"req-{i:05}","level":"INFO","message":"order {i}","service":"orders","timestamp":"2026-11-23T{:02}:{:02}:{:02}.000Z"}}"#,
            i % 5 == 0,
            i % 3,
            9 + seconds / 3600,
            seconds / 60 % 60,
            seconds % 60,
        ) + "\n"
    })
    .collect()
}

/// A second import into the same hours, of other invocations: each hour's merge then copies the
/// first import's merged file and the new rows' file as they are encoded (no request id repeats),
/// and DuckDB reads the result.
#[test]
fn hours_merged_by_copying_row_groups_are_read_by_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for (name, ids) in [("first.ndjson", 0..1500), ("second.ndjson", 1500..3000)] {
        let file = dir.path().join(name);
        std::fs::write(&file, powertools_lines(ids)).unwrap();
        faasobs()
            .arg("--data")
            .arg(&data)
            .arg("ingest")
            .arg(&file)
            .assert()
            .success();
    }
    let out = run_python(DUCKDB_MERGED_HOURS, &[data.to_str().unwrap()]);
    let duck: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(duck["count"], 3000, "{duck}");
    assert_eq!(duck["distinct"], 3000);
    assert_eq!(duck["cold"], 600);
    // Five hours, one merged file each, with the embedded Arrow schema and the store's keys.
    let keys = duck["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 5, "{duck}");
    for file_keys in keys {
        assert_eq!(
            file_keys,
            &serde_json::json!([
                "ARROW:schema",
                "faasobs.hour_merged",
                "faasobs.schema_version",
                "faasobs.table"
            ])
        );
    }
    let rows = query_json(
        &data,
        "SELECT count(*) AS n, count(DISTINCT request_id) AS ids FROM invocations",
    );
    assert_eq!(
        (rows[0]["n"].clone(), rows[0]["ids"].clone()),
        (3000.into(), 3000.into())
    );
}

/// The sample's Lambda logs alone say every invocation that failed with an error: Node.js's
/// runtime writes an `Invoke Error` line with the request id, Python's an `[ERROR] Type:
/// message` line without it (the generator writes both as the runtimes do).
#[test]
fn the_samples_lambda_logs_alone_say_each_error_in_both_runtimes_shapes() {
    let logs = root().join("sample-traces/data/lambda-logs");
    let data = crate::support::store_importing(&logs);
    let mut by_shape = [0usize; 2];
    for function in std::fs::read_dir(&logs).unwrap() {
        let function = function.unwrap().path();
        let name = function.file_name().unwrap().to_string_lossy().into_owned();
        let mut lines = [0usize; 2];
        for file in walk(&function) {
            let text = std::fs::read_to_string(&file).unwrap();
            lines[0] += text.matches("\tERROR\tInvoke Error").count();
            lines[1] += text.matches(" [ERROR] ").count();
        }
        let stored = query_json(
            data.path(),
            &format!(
                "SELECT count(*) AS n FROM invocations \
                 WHERE function_name = '{name}' AND status = 'error' AND error_message IS NOT NULL"
            ),
        );
        assert_eq!(
            stored[0]["n"].as_u64().unwrap() as usize,
            lines[0] + lines[1],
            "{name}"
        );
        by_shape[0] += lines[0];
        by_shape[1] += lines[1];
    }
    assert!(by_shape.iter().all(|n| *n > 0), "{by_shape:?}");
}
