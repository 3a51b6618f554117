//! `faasobs gen` → `faasobs ingest` → Parquet that DuckDB reads, with the documented columns and
//! exactly the generated invocations.

use crate::support::{faasobs, query_json, root, run_python, sample_store};
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
print(json.dumps({"count": count, "distinct": ids, "cold": cold, "by_status": by_status,
                  "columns": rel.columns, "types": types, "spans": spans[0], "trace_id_len": spans[1]}))
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
        assert!(
            stderr.lines().count() == 1 && stderr.matches("Error during planning").count() <= 1,
            "one error, said once: {stderr}"
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
    faasobs()
        .arg("--data")
        .arg(&data)
        .args([
            "query",
            "--format",
            "parquet",
            "--output",
            out.to_str().unwrap(),
            "SELECT function_name, count(*) AS cold FROM invocations WHERE cold_start GROUP BY 1",
        ])
        .assert()
        .success();
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
