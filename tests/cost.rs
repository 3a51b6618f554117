//! `faasobs cost`: the seeds' reference case and a steady high-traffic workload come out of the
//! tool end to end (simulated Lambda logs → ingest → Parquet → DataFusion → compare), the cost
//! views agree with hand-computed prices, and a bad pricing catalog is a clear error.

use std::path::Path;

use faasobs_sample_traces::workload::{Arrivals, FunctionProfile, Instrumentation, Workload};
use faasobs_sample_traces::{simulate, write_workload};
use serde_json::Value;

use crate::support::{
    Deployment, catalog_listing, faasobs, faasobs_at, faasobs_json, faasobs_ok, query_json,
    sample_store, store_of_one_function_deployed,
};

/// One function of the given shape, as platform logs, imported into a fresh store.
fn store_with(
    name: &'static str,
    memory_mb: i32,
    median_ms: f64,
    arrivals: Arrivals,
    minutes: i64,
) -> tempfile::TempDir {
    let function = FunctionProfile {
        name,
        runtime: "nodejs20.x",
        runtime_name: "nodejs",
        runtime_version: "20.18.1",
        runtime_arn_version: "nodejs:20.v42",
        architecture: "x86_64",
        memory_mb,
        timeout_ms: 6000.0,
        trigger: "http",
        arrivals,
        median_ms,
        sigma: 0.15,
        init_median_ms: 300.0,
        error_rate: 0.0,
        oom_rate: 0.0,
        errors: &[],
        concurrency_limit: 1000,
        instrumentation: Instrumentation::None,
    };
    let mut workload = Workload::sample(7);
    workload.duration_ns = minutes * 60_000_000_000;
    workload.functions = vec![function];
    let files = tempfile::tempdir().unwrap();
    write_workload(&workload, &simulate(&workload), files.path()).unwrap();
    let data = tempfile::tempdir().unwrap();
    faasobs()
        .arg("--data")
        .arg(data.path())
        .arg("ingest")
        .arg(files.path())
        .assert()
        .success();
    data
}

fn compare(data: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["cost", "compare", "--format", "json"];
    args.extend(extra);
    faasobs_json(data, &args)
}

fn rows<'a>(report: &'a Value, section: &str) -> &'a Vec<Value> {
    report[section]
        .as_array()
        .unwrap_or_else(|| panic!("section {section} in {report:#}"))
}

fn scenario<'a>(report: &'a Value, starts_with: &str) -> &'a Value {
    rows(report, "scenarios")
        .iter()
        .find(|r| r["scenario"].as_str().unwrap().starts_with(starts_with))
        .unwrap_or_else(|| panic!("no scenario {starts_with}: {report:#}"))
}

fn number(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn assumption<'a>(report: &'a Value, name: &str) -> &'a str {
    rows(report, "assumptions")
        .iter()
        .find(|r| r["assumption"] == name)
        .and_then(|r| r["value"].as_str())
        .unwrap_or_else(|| panic!("no assumption {name}"))
}

#[test]
fn reference_api_costs_a_few_dollars_serverless_against_tens_on_dedicated_servers() {
    // 1M requests a month is 0.38 per second; 150 ms at 256 MB; one hour of history.
    let data = store_with(
        "orders-api",
        256,
        150.0,
        Arrivals::Poisson {
            per_second: 1e6 / (730.0 * 3600.0),
        },
        60,
    );
    let report = compare(data.path(), &[]);

    let observed = number(&scenario(&report, "serverless as observed")["monthly_usd"]);
    assert!((0.0..=20.0).contains(&observed), "serverless ${observed}");
    let dedicated = scenario(&report, "dedicated servers");
    let dedicated_usd = number(&dedicated["monthly_usd"]);
    assert!(
        (40.0..=100.0).contains(&dedicated_usd),
        "dedicated ${dedicated_usd}: {dedicated}"
    );
    let fleet = &rows(&report, "dedicated")[0];
    assert!(number(&fleet["count"]) >= 2.0, "redundant: {fleet}");
    assert_eq!(fleet["limited_by"], "redundancy");

    // The projection and the assumptions are printed with the numbers.
    let requests: f64 = assumption(&report, "monthly requests (projected)")
        .parse()
        .unwrap();
    assert!((850_000.0..=1_150_000.0).contains(&requests), "{requests}");
    assert!(assumption(&report, "load balancer").contains("Load Balancer"));
    assert!(assumption(&report, "redundancy").contains("at least 2"));
    // Where the alternatives' prices come from, their region with them.
    assert_eq!(
        assumption(&report, "server prices"),
        "EC2 on-demand, us-east-1, Linux"
    );
    assert_eq!(
        assumption(&report, "container prices"),
        "AWS Fargate, us-east-1, Linux/x86; AWS Fargate, us-east-1, Linux/ARM"
    );
    // Serverless is cheaper here, so dedicated only breaks even at a higher volume.
    let servers = &rows(&report, "break_even")[0];
    assert!(
        number(&servers["break_even_monthly_requests"]) > requests,
        "{servers}"
    );

    // The memory what-if tries every size and recommends one that keeps the observed p95.
    let memory = rows(&report, "memory");
    assert_eq!(memory.len(), 12);
    let recommended: Vec<&Value> = memory.iter().filter(|r| r["recommended"] == true).collect();
    assert_eq!(recommended.len(), 1, "{memory:#?}");
    assert_eq!(recommended[0]["meets_p95"], true);
    // Provisioned concurrency is priced at each level and costs more for a quiet API.
    let provisioned = rows(&report, "provisioned");
    assert_eq!(provisioned.len(), 3);
    assert!(
        provisioned
            .iter()
            .all(|r| number(&r["difference_usd"]) > 0.0)
    );
}

#[test]
fn steady_high_traffic_is_cheaper_on_dedicated_servers_with_its_break_even_volume() {
    // 50 requests a second, evenly spaced, 200 ms at 1024 MB: ten in flight all the time.
    let data = store_with(
        "ingest-worker",
        1024,
        200.0,
        Arrivals::Every { seconds: 0.02 },
        10,
    );
    let report = compare(data.path(), &[]);

    let observed = number(&scenario(&report, "serverless as observed")["monthly_usd"]);
    let dedicated = number(&scenario(&report, "dedicated servers")["monthly_usd"]);
    assert!(
        dedicated < observed,
        "dedicated ${dedicated} vs serverless ${observed}"
    );

    let requests: f64 = assumption(&report, "monthly requests (projected)")
        .parse()
        .unwrap();
    let servers = &rows(&report, "break_even")[0];
    let break_even = number(&servers["break_even_monthly_requests"]);
    assert!(
        break_even > 0.0 && break_even < requests,
        "{break_even} vs {requests}"
    );
    assert_eq!(
        servers["note"],
        "cheaper than serverless at the observed volume"
    );
    // At the break-even volume the two cost the same.
    let (s, d) = (
        number(&servers["serverless_usd"]),
        number(&servers["dedicated_usd"]),
    );
    assert!((s - d).abs() / d < 0.01, "{servers}");
}

/// Right-sizing never recommends a size the function's observed memory use would not fit in,
/// however much cheaper the duration model makes it; a function that ran out of memory is given
/// more.
#[test]
fn right_sizing_keeps_each_function_above_its_peak_memory_used() {
    // 1024 MB, using 25-60 % of it. With any p95 allowed, the cheapest size by duration alone
    // is the smallest; the peak (about 600 MB) plus 10 % rules out everything below 1024 MB.
    let data = store_with(
        "thumbnailer",
        1024,
        80.0,
        Arrivals::Every { seconds: 1.0 },
        10,
    );
    let report = compare(data.path(), &["--max-p95-ms", "1000000"]);
    let peak = number(&rows(&report, "observed")[0]["peak_memory_used_mb"]);
    assert!((400.0..=615.0).contains(&peak), "{peak}");
    let memory = rows(&report, "memory");
    let row = |mb: f64| {
        memory
            .iter()
            .find(|r| number(&r["memory_mb"]) == mb)
            .unwrap_or_else(|| panic!("{mb} MB in {memory:#?}"))
    };
    assert_eq!(row(128.0)["meets_p95"], true);
    assert!(
        number(&row(128.0)["monthly_usd_at_tier1"]) < number(&row(1024.0)["monthly_usd_at_tier1"])
    );
    for (mb, fits) in [
        (128.0, false),
        (512.0, false),
        (1024.0, true),
        (2048.0, true),
    ] {
        assert_eq!(row(mb)["fits_memory"], fits, "{mb} MB");
    }
    let recommended: Vec<f64> = memory
        .iter()
        .filter(|r| r["recommended"] == true)
        .map(|r| number(&r["memory_mb"]))
        .collect();
    assert_eq!(recommended, [1024.0]);
    // Without the headroom, the peak itself still rules out 512 MB.
    let report = compare(
        data.path(),
        &["--max-p95-ms", "1000000", "--memory-headroom", "0"],
    );
    let recommended = rows(&report, "memory")
        .iter()
        .find(|r| r["recommended"] == true)
        .map(|r| number(&r["memory_mb"]));
    assert_eq!(recommended, Some(1024.0));
    let detail = scenario(&report, "serverless, memory right-sized")["detail"]
        .as_str()
        .unwrap();
    assert!(detail.contains("peak memory used + 0%"), "{detail}");

    // The sample's image-resize ran out of memory at 2048 MB: its own size does not fit it, so
    // it is recommended a larger one, and the scenario says so.
    let sample = sample_store();
    let report = compare(sample.path(), &[]);
    let image_resize: Vec<&Value> = rows(&report, "memory")
        .iter()
        .filter(|r| r["function_name"] == "image-resize")
        .collect();
    let current = image_resize.iter().find(|r| r["current"] == true).unwrap();
    assert_eq!(current["fits_memory"], false, "{current}");
    let recommended = image_resize
        .iter()
        .find(|r| r["recommended"] == true)
        .unwrap();
    assert!(number(&recommended["memory_mb"]) > 2048.0, "{recommended}");
    let detail = scenario(&report, "serverless, memory right-sized")["detail"]
        .as_str()
        .unwrap();
    assert!(
        detail.contains("1 needs more memory than it has"),
        "{detail}"
    );
    // A negative headroom is refused by the flag's name.
    let out = faasobs_at(sample.path())
        .args(["cost", "compare", "--memory-headroom", "-0.5"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--memory-headroom must be"), "{stderr}");
}

/// Lambda takes any memory size in 1 MB steps: a function at one the console does not list is
/// compared with its own size, which keeps its p95 by definition, so right-sizing never costs
/// more than running as it is.
#[test]
fn a_function_at_an_unlisted_memory_size_is_compared_with_its_own_size() {
    let data = store_with(
        "pdf-render",
        192,
        150.0,
        Arrivals::Every { seconds: 1.0 },
        10,
    );
    let report = compare(data.path(), &[]);
    let memory = rows(&report, "memory");
    assert_eq!(memory.len(), 13, "{memory:#?}");
    let sizes: Vec<f64> = memory.iter().map(|r| number(&r["memory_mb"])).collect();
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
    let current: Vec<&Value> = memory.iter().filter(|r| r["current"] == true).collect();
    assert_eq!(current.len(), 1, "{memory:#?}");
    assert_eq!(number(&current[0]["memory_mb"]), 192.0);
    assert_eq!(number(&current[0]["difference_usd"]), 0.0);
    assert_eq!(current[0]["meets_p95"], true);
    let recommended = memory.iter().find(|r| r["recommended"] == true).unwrap();
    assert!(
        number(&recommended["difference_usd"]) <= 0.0,
        "{recommended}"
    );
    let right_sized = scenario(&report, "serverless, memory right-sized");
    assert!(
        number(&right_sized["difference_usd"]) <= 0.0,
        "{right_sized}"
    );
    let detail = scenario(&report, "serverless as observed")["detail"]
        .as_str()
        .unwrap();
    assert!(detail.starts_with("1 function;"), "{detail}");
}

/// One function name deployed in two accounts is two configurations, and every per-function
/// section says which of them each row is.
#[test]
fn a_function_in_two_accounts_has_its_rows_told_apart() {
    let data = store_of_one_function_deployed(&[
        Deployment {
            region: "us-east-1",
            account: "111111111111",
            memory_mb: 1024,
            duration_ms: 120,
        },
        Deployment {
            region: "us-east-1",
            account: "222222222222",
            memory_mb: 512,
            duration_ms: 40,
        },
    ]);
    let report = compare(data.path(), &[]);
    let detail = scenario(&report, "serverless as observed")["detail"]
        .as_str()
        .unwrap();
    assert!(
        detail.starts_with("1 function (2 configurations)"),
        "{detail}"
    );
    for section in ["memory", "arm64", "provisioned"] {
        let accounts: std::collections::BTreeSet<&str> = rows(&report, section)
            .iter()
            .map(|r| r["account_id"].as_str().unwrap())
            .collect();
        assert_eq!(
            accounts,
            ["111111111111", "222222222222"].into(),
            "{section}: {report:#}"
        );
    }
    // Each account's rows have its own size as the current one.
    let current: Vec<(&str, f64)> = rows(&report, "memory")
        .iter()
        .filter(|r| r["current"] == true)
        .map(|r| (r["account_id"].as_str().unwrap(), number(&r["memory_mb"])))
        .collect();
    assert_eq!(current, [("111111111111", 1024.0), ("222222222222", 512.0)]);
}

/// A store with invocations in eu-west-1, which the built-in catalog does not price: the report
/// stops at the missing price and says how to copy us-east-1's; the catalog that
/// `cost catalog --copy-prices us-east-1:eu-west-1` writes prices them as us-east-1's, and every
/// report priced with the copies says so.
#[test]
fn a_region_the_catalog_does_not_price_takes_copied_prices_with_a_warning() {
    let deployment = |region, memory_mb| Deployment {
        region,
        account: "111111111111",
        memory_mb,
        duration_ms: 120,
    };
    let data = store_of_one_function_deployed(&[
        deployment("eu-west-1", 1024),
        deployment("us-east-1", 512),
    ]);
    let refused = faasobs_at(data.path())
        .args(["cost", "report"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success()
            && err.starts_with("error: no function price in pricing catalog")
            && err.contains("for aws eu-west-1 x86_64 on 2026-11-23")
            && err.contains(
                "`faasobs cost catalog --copy-prices us-east-1:eu-west-1 > pricing.toml`"
            ),
        "{err}"
    );

    // Reading the store, `cost catalog` says which of its regions the catalog does not price.
    let (_, notes) = faasobs_ok(data.path(), &["cost", "catalog", "--from-store"]);
    assert!(
        notes.contains(
            "note: the store has invocations in aws eu-west-1, which this catalog has \
             no prices for"
        ) && !notes.contains("us-east-1, which"),
        "{notes}"
    );
    let (copied, _) = faasobs_ok(
        data.path(),
        &["cost", "catalog", "--copy-prices", "us-east-1:eu-west-1"],
    );
    let (_, notes) = faasobs_ok(
        data.path(),
        &[
            "cost",
            "catalog",
            "--copy-prices",
            "us-east-1:eu-west-1",
            "--from-store",
        ],
    );
    assert!(!notes.contains("no prices for"), "{notes}");
    // Listed with the copy, a function of eu-west-1 is written with its region, not commented out.
    let dir = tempfile::tempdir().unwrap();
    let listing = dir.path().join("functions.json");
    std::fs::write(
        &listing,
        r#"[{"FunctionName": "orders-api", "Architectures": ["x86_64"],
             "FunctionArn": "arn:aws:lambda:eu-west-1:111111111111:function:orders-api"}]"#,
    )
    .unwrap();
    let listed = |extra: &[&str]| {
        faasobs_ok(
            data.path(),
            &[
                &[
                    "cost",
                    "catalog",
                    "--lambda-functions",
                    listing.to_str().unwrap(),
                ][..],
                extra,
            ]
            .concat(),
        )
        .0
    };
    assert!(listed(&[]).contains("# region = \"eu-west-1\"  # no AWS Lambda prices"));
    assert!(
        listed(&["--copy-prices", "us-east-1:eu-west-1"])
            .contains("name = \"orders-api\"\nregion = \"eu-west-1\"\n")
    );
    let catalog = dir.path().join("copied.toml");
    std::fs::write(&catalog, &copied).unwrap();
    let pricing = ["--pricing", catalog.to_str().unwrap()];
    let report = faasobs_json(
        data.path(),
        &[&pricing[..], &["cost", "report", "--format", "json"]].concat(),
    );
    // Each region's month at the x86_64 first-tier price: 30 invocations of 120 ms.
    let months: Vec<(&str, f64, f64)> = rows(&report, "months")
        .iter()
        .map(|m| {
            (
                m["region"].as_str().unwrap(),
                number(&m["gb_seconds"]),
                number(&m["duration_usd"]),
            )
        })
        .collect();
    assert_eq!(months.len(), 2, "{report:#}");
    for (region, gb_seconds, duration_usd) in months {
        let memory_gb = if region == "eu-west-1" { 1.0 } else { 0.5 };
        assert!(
            (gb_seconds - 30.0 * 0.12 * memory_gb).abs() < 1e-9,
            "{region}"
        );
        assert!(
            (duration_usd - gb_seconds * 0.0000166667).abs() <= 5e-7,
            "{region}: {report:#}"
        );
    }
    let copy_warning = "aws eu-west-1 x86_64 is priced with us-east-1's prices, copied by \
                        `faasobs cost catalog --copy-prices us-east-1:eu-west-1`: check them \
                        against the provider's page for eu-west-1";
    let warnings: Vec<&str> = rows(&report, "assumptions")
        .iter()
        .filter(|r| r["assumption"] == "warning")
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert_eq!(warnings, [copy_warning], "{report:#}");
    // `cost compare` warns too, of the arm64 prices its what-if uses as well.
    let compared = faasobs_json(
        data.path(),
        &[&pricing[..], &["cost", "compare", "--format", "json"]].concat(),
    );
    let warned: Vec<&str> = rows(&compared, "assumptions")
        .iter()
        .filter(|r| r["assumption"] == "warning")
        .map(|r| r["value"].as_str().unwrap())
        .filter(|w| w.contains("copied"))
        .collect();
    assert_eq!(
        warned,
        [
            copy_warning.replace("x86_64", "arm64").as_str(),
            copy_warning
        ],
        "{compared:#}"
    );
    // And that the dedicated alternatives are priced as in us-east-1.
    assert!(
        rows(&compared, "assumptions").iter().any(|r| r["value"]
            == "the dedicated servers, load balancer, volumes and containers are priced as in \
                us-east-1 (the catalog's [fleet] region), while functions run in eu-west-1: \
                their prices there differ; a --pricing catalog can hold that region's"),
        "{compared:#}"
    );

    // Copies that cannot be made are refused, saying why.
    let refusal = |pricing: &[&str], pair: &str| {
        let out = faasobs_at(data.path())
            .args(pricing)
            .args(["cost", "catalog", "--copy-prices", pair])
            .output()
            .unwrap();
        assert!(!out.status.success() && out.stdout.is_empty(), "{pair}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(refusal(&[], "eu-north-1:eu-west-1").contains(
        "--copy-prices eu-north-1:eu-west-1: the catalog has no function prices for \
             eu-north-1 (it has eastus, us-central1, us-east-1)"
    ));
    assert!(
        refusal(&pricing, "us-east-1:eu-west-1")
            .contains("the catalog has function prices for eu-west-1 already")
    );
    assert!(refusal(&[], "us-east-1:us-east-1").contains("the same region twice"));
    assert!(refusal(&[], "eu-west-1").contains("expected FROM:TO"));
}

/// Fargate tasks of a size Fargate does not run are refused with the sizes it does; one it
/// runs is priced.
#[test]
fn a_task_size_fargate_does_not_run_is_refused() {
    let store = sample_store();
    let size = |vcpu: &'static str, gb: &'static str| ["--task-vcpu", vcpu, "--task-memory-gb", gb];
    let out = faasobs_at(store.path())
        .args(["cost", "compare"])
        .args(size("1", "1"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "--task-vcpu 1 with --task-memory-gb 1 is not a task size fargate runs: \
             fargate runs 1 vCPU tasks with 2 to 8 GB in steps of 1 GB"
        ),
        "{stderr}"
    );
    let report = compare(store.path(), &size("1", "2"));
    let fargate = scenario(&report, "containers: fargate x86_64");
    assert!(
        fargate["detail"]
            .as_str()
            .unwrap()
            .starts_with("1 vCPU / 2 GB tasks"),
        "{fargate}"
    );
}

#[test]
fn cost_views_price_each_invocation_as_computed_by_hand() {
    let data = sample_store();
    // Every invocation with a billed duration reported by the platform, on x86_64 in us-east-1:
    // request $0.20 per 1M plus the reported billed GB-s at $0.0000166667 (INIT, when billed, is
    // inside the reported figure).
    let rows = query_json(
        data.path(),
        "SELECT billed_duration_ms, memory_size_mb, cost_usd, init_usd FROM invocation_costs \
         WHERE pricing_architecture = 'x86_64' AND pricing_region = 'us-east-1' \
         AND billed_duration_ms IS NOT NULL AND status <> 'throttled' LIMIT 50",
    );
    assert!(!rows.is_empty());
    for r in &rows {
        let billed = r["billed_duration_ms"].as_f64().unwrap();
        let memory = r["memory_size_mb"].as_f64().unwrap();
        let expected = 0.2e-6 + billed / 1000.0 * memory / 1024.0 * 0.0000166667;
        let cost = r["cost_usd"].as_f64().unwrap();
        assert!(
            (cost - expected).abs() < 1e-12,
            "{r:?}: expected {expected}"
        );
    }

    // The report's spend adds up to the view, and the months section bills the same use.
    let report = faasobs_json(data.path(), &["cost", "report", "--format", "json"]);
    let spend: f64 = rows_of(&report, "spend")
        .iter()
        .map(|r| number(&r["total_usd"]))
        .sum();
    let total = query_json(
        data.path(),
        "SELECT sum(cost_usd) AS total FROM invocation_costs",
    );
    let total = total[0]["total"].as_f64().unwrap();
    assert!(
        total > 0.0 && (spend - total).abs() < 1e-5,
        "{spend} vs {total}"
    );
    // The view's `cost_usd` (invocation_cost_usd) is the struct's total on every row, priced or
    // not.
    let disagreeing = query_json(
        data.path(),
        "SELECT count(*) AS n FROM invocation_costs \
         WHERE (cost_usd IS DISTINCT FROM invocation_cost(provider, region, architecture, \
           memory_size_mb, max_memory_used_mb, start_time, duration_ms, billed_duration_ms, \
           init_duration_ms, cold_start, status, error_message)['cost_usd']) \
           OR (cost_usd IS DISTINCT FROM request_usd + duration_usd)",
    );
    assert_eq!(disagreeing[0]["n"], 0, "{disagreeing:?}");
    for r in rows_of(&report, "spend") {
        let share = number(&r["init_share"]);
        assert!((0.0..=1.0).contains(&share), "{r}");
        // Per million invocations that ran: the sample's throttles (search-suggest's), free,
        // are not in it.
        // (`total_usd` is rounded to 6 decimals.)
        let billed = number(&r["billed_requests"]);
        let per_million = number(&r["total_usd"]) / billed * 1e6;
        assert!(
            (number(&r["usd_per_million_invocations"]) - per_million).abs() <= 1.0 / billed,
            "{r}"
        );
    }
    assert!(
        rows_of(&report, "spend")
            .iter()
            .any(|r| number(&r["billed_requests"]) < number(&r["invocations"])),
        "the sample has throttles"
    );
    // No month of the sample is past the first tier, so months cost what the spend does; the free
    // tier then covers the sample entirely.
    let months: f64 = rows_of(&report, "months")
        .iter()
        .map(|r| number(&r["total_usd"]))
        .sum();
    assert!((months - total).abs() < 1e-5, "{months} vs {total}");
    // Spend by day and by month: one row per period, named as the period, in order, adding up.
    for (by, name_length) in [("day", "2026-01-01".len()), ("month", "2026-01".len())] {
        let by_period = faasobs_json(
            data.path(),
            &["cost", "report", "--by", by, "--format", "json"],
        );
        let rows = rows_of(&by_period, "spend");
        let periods: Vec<&str> = rows.iter().map(|r| r[by].as_str().unwrap()).collect();
        assert!(
            !periods.is_empty()
                && periods
                    .iter()
                    .all(|p| p.len() == name_length && p.as_bytes()[4] == b'-'),
            "{periods:?}"
        );
        assert!(periods.windows(2).all(|w| w[0] < w[1]), "{periods:?}");
        let spent: f64 = rows.iter().map(|r| number(&r["total_usd"])).sum();
        assert!((spent - total).abs() < 1e-5, "by {by}: {spent} vs {total}");
    }
    let monthly = query_json(
        data.path(),
        "SELECT sum(total_usd) AS total FROM monthly_costs",
    );
    assert!((monthly[0]["total"].as_f64().unwrap() - total).abs() < 1e-5);

    let report = faasobs_json(
        data.path(),
        &[
            "cost",
            "report",
            "--by",
            "month",
            "--free-tier",
            "--format",
            "json",
        ],
    );
    assert!(
        rows_of(&report, "months")
            .iter()
            .all(|r| number(&r["total_usd"]) == 0.0)
    );
}

#[test]
fn compare_lists_functions_by_name_and_replays_equal_starts_cold_first() {
    // Functions in name order, whatever order the store holds them in.
    let sample = sample_store();
    let report = compare(sample.path(), &[]);
    let names: Vec<&str> = rows(&report, "observed")
        .iter()
        .map(|r| r["function_name"].as_str().unwrap())
        .collect();
    assert!(names.len() > 2, "{names:?}");
    assert!(names.windows(2).all(|w| w[0] <= w[1]), "{names:?}");
    // The sample's throttles say neither memory nor architecture; they count with the one
    // configuration of their function that ran, not as a configuration of the catalog's
    // defaults: one row per function, each with all its invocations.
    assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
    let stored = query_json(
        sample.path(),
        "SELECT function_name, count(*) AS n, count(*) FILTER (WHERE status = 'throttled') AS throttled \
         FROM invocations GROUP BY 1 ORDER BY 1",
    );
    assert!(
        stored.iter().any(|r| r["throttled"].as_i64().unwrap() > 0),
        "{stored:?}"
    );
    for (row, stored) in rows(&report, "observed").iter().zip(&stored) {
        assert_eq!(row["function_name"], stored["function_name"]);
        assert_eq!(row["invocations"], stored["n"], "{row}");
    }
    let detail = scenario(&report, "serverless as observed")["detail"]
        .as_str()
        .unwrap();
    assert!(
        detail.starts_with(&format!("{} functions;", stored.len())),
        "{detail}"
    );

    // Two invocations start and end at the same instant, the cold one second in the file and
    // second by request id. With one provisioned environment the replay serves the cold one,
    // so a cold start is avoided, in whichever order the file has them.
    let line = |id: u8, report: &str| {
        format!(
            "2026-11-23T09:00:00.100Z REPORT RequestId: 00000000-0000-4000-8000-00000000000{id}\t\
             Duration: 100.00 ms\t{report}Memory Size: 128 MB\tMax Memory Used: 39 MB\t\n"
        )
    };
    let warm = line(1, "Billed Duration: 100 ms\t");
    let cold = line(2, "Billed Duration: 400 ms\tInit Duration: 300.00 ms\t");
    for (order, text) in [
        ("warm first", format!("{warm}{cold}")),
        ("cold first", format!("{cold}{warm}")),
    ] {
        let files = tempfile::tempdir().unwrap();
        let log = files.path().join("tie.log");
        std::fs::write(&log, text).unwrap();
        let data = tempfile::tempdir().unwrap();
        faasobs()
            .arg("--data")
            .arg(data.path())
            .args(["ingest", "--function", "tie-api"])
            .arg(&log)
            .assert()
            .success();
        let report = compare(data.path(), &["--provisioned", "1"]);
        let provisioned = &rows(&report, "provisioned")[0];
        assert_eq!(
            number(&provisioned["served_share"]),
            0.5,
            "{order}: {provisioned}"
        );
        assert!(
            number(&provisioned["monthly_cold_starts_avoided"]) > 0.0,
            "{order}: {provisioned}"
        );
    }
}

fn rows_of<'a>(report: &'a Value, section: &str) -> &'a Vec<Value> {
    rows(report, section)
}

#[test]
fn the_printed_catalog_round_trips_and_a_bad_one_is_a_clear_error() {
    let data = sample_store();
    let dir = tempfile::tempdir().unwrap();
    let printed = faasobs().args(["cost", "catalog"]).output().unwrap();
    assert!(printed.status.success());
    let catalog = String::from_utf8(printed.stdout).unwrap();
    let good = dir.path().join("pricing.toml");
    std::fs::write(&good, &catalog).unwrap();
    faasobs()
        .arg("--data")
        .arg(data.path())
        .arg("--pricing")
        .arg(&good)
        .args(["cost", "report"])
        .assert()
        .success();

    // A typo is an unknown key, named with its file.
    let err = refused_catalog(
        data.path(),
        &dir.path().join("typo.toml"),
        &catalog.replacen("request_usd_per_million", "request_usd_per_milion", 1),
    );
    assert!(
        err.contains("typo.toml") && err.contains("request_usd_per_milion"),
        "{err}"
    );

    // A region the data ran in but the catalog does not price is an error, not a zero.
    let err = refused_catalog(
        data.path(),
        &dir.path().join("elsewhere.toml"),
        &catalog.replace("\"us-east-1\"", "\"eu-south-9\""),
    );
    assert!(
        err.contains("us-east-1") && err.contains("--pricing"),
        "{err}"
    );
}

/// Platform logs say neither the region nor the architecture: a cost report prices their
/// invocations at the catalog's defaults and says so, with how to change them; a catalog whose
/// `[defaults]` say arm64 prices the same GB-seconds at arm64's price, and so does one whose
/// `[[functions]]`, from `aws lambda list-functions`, say the function is arm64.
#[test]
fn invocations_that_do_not_say_their_architecture_are_priced_at_their_functions_or_the_defaults() {
    let data = store_with("thumbs", 1024, 100.0, Arrivals::Every { seconds: 1.0 }, 10);
    let report = faasobs_json(data.path(), &["cost", "report", "--format", "json"]);
    let invocations = assumption(&report, "invocations");
    assert_ne!(invocations, "0");
    assert_eq!(
        assumption(&report, "invocations priced with the catalog's defaults"),
        invocations
    );
    assert_eq!(
        assumption(&report, "warning"),
        format!(
            "{invocations} of {invocations} invocations do not say their provider, region or \
             architecture; priced as the catalog's defaults (aws us-east-1 x86_64); a --pricing \
             catalog can say where each function runs (`faasobs cost catalog \
             --lambda-functions FILE` or `--from-store`) or change `[defaults]` (docs/cost.md)"
        )
    );
    // One month, priced at the architecture's first-tier GB-s price (the report rounds to
    // millionths of a dollar).
    let month_on = |report: &Value, architecture: &str, usd_per_gb_s: f64| {
        let [month] = &rows(report, "months")[..] else {
            panic!("one month: {report:#}");
        };
        assert_eq!(month["architecture"], architecture, "{month:#}");
        let gb_seconds = number(&month["gb_seconds"]);
        let duration_usd = number(&month["duration_usd"]);
        assert!(
            (duration_usd - gb_seconds * usd_per_gb_s).abs() <= 5e-7,
            "{month:#}"
        );
        gb_seconds
    };
    let on_x86 = month_on(&report, "x86_64", 0.0000166667);
    let printed = faasobs().args(["cost", "catalog"]).output().unwrap();
    let catalog = String::from_utf8(printed.stdout).unwrap();
    let x86_defaults = "architecture = \"x86_64\"\n\n";
    assert!(catalog.contains(x86_defaults), "{catalog}");
    let dir = tempfile::tempdir().unwrap();
    let arm = dir.path().join("arm64.toml");
    std::fs::write(
        &arm,
        catalog.replacen(x86_defaults, "architecture = \"arm64\"\n\n", 1),
    )
    .unwrap();
    let on_arm = faasobs_json(
        data.path(),
        &[
            "--pricing",
            arm.to_str().unwrap(),
            "cost",
            "report",
            "--format",
            "json",
        ],
    );
    assert_eq!(month_on(&on_arm, "arm64", 0.0000133334), on_x86);

    // What `aws lambda list-functions` printed, added to the catalog by `cost catalog`: the
    // function's region and architecture price its invocations, without the defaults' warning;
    // a function in a region the catalog has no prices for keeps its region commented out.
    let listed = dir.path().join("functions.json");
    let (with_functions, notes) = catalog_listing(
        data.path(),
        &listed,
        r#"{"Functions": [
            {"FunctionName": "thumbs", "MemorySize": 1024, "Architectures": ["arm64"],
             "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:thumbs"},
            {"FunctionName": "mailer", "MemorySize": 256, "Architectures": ["x86_64"],
             "FunctionArn": "arn:aws:lambda:eu-west-1:123456789012:function:mailer"}
        ]}"#,
    );
    assert!(
        with_functions.starts_with(catalog.trim_end())
            && with_functions.contains(
                "[[functions]]\nname = \"thumbs\"\nregion = \"us-east-1\"\n\
                 architecture = \"arm64\"\nsource = \"aws lambda list-functions (functions.json)\"\n"
            ),
        "{with_functions}"
    );
    assert!(
        notes.contains("no AWS Lambda prices for eu-west-1"),
        "{notes}"
    );
    // The same from standard input (`aws lambda list-functions | faasobs cost catalog …`).
    let piped = faasobs()
        .args(["cost", "catalog", "--lambda-functions", "-"])
        .write_stdin(std::fs::read(&listed).unwrap())
        .output()
        .unwrap();
    assert!(piped.status.success());
    assert_eq!(
        String::from_utf8(piped.stdout).unwrap(),
        with_functions.replace("(functions.json)", "(standard input)")
    );
    let listed_catalog = dir.path().join("listed.toml");
    std::fs::write(&listed_catalog, &with_functions).unwrap();
    let pricing = ["--pricing", listed_catalog.to_str().unwrap()];
    let on_listed = faasobs_json(
        data.path(),
        &[&pricing[..], &["cost", "report", "--format", "json"]].concat(),
    );
    assert_eq!(month_on(&on_listed, "arm64", 0.0000133334), on_x86);
    assert_eq!(
        assumption(&on_listed, "invocations priced with the catalog's defaults"),
        "0"
    );
    assert_eq!(
        assumption(
            &on_listed,
            "invocations priced with the region or architecture of the catalog's functions"
        ),
        invocations
    );
    assert!(
        rows(&on_listed, "assumptions")
            .iter()
            .all(|r| r["assumption"] != "warning"),
        "{on_listed:#}"
    );
    let compared = faasobs_json(
        data.path(),
        &[&pricing[..], &["cost", "compare", "--format", "json"]].concat(),
    );
    let [observed] = &rows(&compared, "observed")[..] else {
        panic!("one function: {compared:#}");
    };
    assert_eq!(
        (&observed["region"], &observed["architecture"]),
        (&Value::from("us-east-1"), &Value::from("arm64")),
        "{observed:#}"
    );
    // The stored rows are as they were: only their pricing says arm64.
    let (stored, _) = faasobs_ok(
        data.path(),
        &[
            &pricing[..],
            &[
                "query",
                "--format",
                "csv",
                "SELECT DISTINCT architecture IS NULL AS unsaid, pricing_architecture \
                 FROM invocation_costs",
            ],
        ]
        .concat(),
    );
    assert_eq!(stored, "unsaid,pricing_architecture\ntrue,arm64\n");

    // A catalog that lists the function already, in the same region, is refused by name.
    let twice = faasobs()
        .args(["--pricing", listed_catalog.to_str().unwrap()])
        .args([
            "cost",
            "catalog",
            "--lambda-functions",
            listed.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&twice.stderr);
    assert!(
        !twice.status.success() && err.contains("(thumbs): listed twice in us-east-1"),
        "{err}"
    );
}

/// A function listed with 10,240 MB of ephemeral storage pays for the 9.5 GB above the included
/// 512 MB for each second of its billed duration, at the storage price, in the view, the report's
/// spend and months (outside the free tier) and the scenarios; without a size, nothing.
#[test]
fn ephemeral_storage_a_listing_gives_is_billed_for_the_billed_duration() {
    let data = store_with("thumbs", 1024, 2000.0, Arrivals::Every { seconds: 1.0 }, 10);
    let report = |pricing: &[&str], extra: &[&str]| {
        faasobs_json(
            data.path(),
            &[pricing, &["cost", "report", "--format", "json"], extra].concat(),
        )
    };
    let [spend] = &rows(&report(&[], &[]), "spend").clone()[..] else {
        panic!("one function");
    };
    assert_eq!(number(&spend["ephemeral_storage_usd"]), 0.0, "{spend:#}");
    assert!(
        assumption(&report(&[], &[]), "ephemeral storage").starts_with(
            "the included size, which costs nothing (Lambda: 512 MB), for every function"
        ),
    );

    let dir = tempfile::tempdir().unwrap();
    let (listed, _) = catalog_listing(
        data.path(),
        &dir.path().join("functions.json"),
        r#"{"Functions": [{"FunctionName": "thumbs", "MemorySize": 1024,
            "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:thumbs",
            "Architectures": ["x86_64"], "EphemeralStorage": {"Size": 10240}}]}"#,
    );
    assert!(
        listed.contains("architecture = \"x86_64\"\nephemeral_storage_mb = 10240\n"),
        "{listed}"
    );
    let catalog = dir.path().join("listed.toml");
    std::fs::write(&catalog, &listed).unwrap();
    let pricing = ["--pricing", catalog.to_str().unwrap()];

    // Every invocation: billed seconds × 9.5 GB at $0.0000000309, on top of its price before.
    let sums = "SELECT sum(billed_duration_ms) AS billed, sum(ephemeral_storage_gb_seconds) AS gb_s, \
                sum(ephemeral_storage_usd) AS storage, sum(cost_usd) AS cost, \
                sum(request_usd + duration_usd) AS rest FROM invocation_costs";
    let (before, _) = faasobs_ok(data.path(), &["query", "--format", "json", sums]);
    let (after, _) = faasobs_ok(
        data.path(),
        &[&pricing[..], &["query", "--format", "json", sums]].concat(),
    );
    let (before, after): (Vec<Value>, Vec<Value>) = (
        serde_json::from_str(&before).unwrap(),
        serde_json::from_str(&after).unwrap(),
    );
    let (before, after) = (&before[0], &after[0]);
    let billed_s = number(&after["billed"]) / 1000.0;
    assert!(billed_s > 1000.0, "{after}");
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1e-9);
    let storage_usd = billed_s * 9.5 * 0.0000000309;
    assert!(close(number(&after["gb_s"]), billed_s * 9.5), "{after}");
    assert!(close(number(&after["storage"]), storage_usd), "{after}");
    assert!(
        close(
            number(&after["cost"]),
            number(&before["cost"]) + storage_usd
        ),
        "{after} {before}"
    );
    assert!(
        close(number(&after["rest"]), number(&before["rest"])),
        "{after} {before}"
    );
    assert_eq!(number(&before["storage"]), 0.0);

    // The report: a column of its own in the spend, and in the month, where the free tier (which
    // takes all of this function's requests and GB-s) leaves it whole.
    let priced = report(&pricing, &["--free-tier"]);
    let [spend] = &rows(&priced, "spend")[..] else {
        panic!("one function: {priced:#}");
    };
    let [month] = &rows(&priced, "months")[..] else {
        panic!("one month: {priced:#}");
    };
    for row in [spend, month] {
        assert!(
            (number(&row["ephemeral_storage_usd"]) - storage_usd).abs() <= 1e-6,
            "{row:#}"
        );
    }
    assert_eq!(number(&month["free_requests"]), number(&month["requests"]));
    assert_eq!(
        month["total_usd"], month["ephemeral_storage_usd"],
        "{month:#}"
    );
    assert_eq!(
        assumption(&priced, "ephemeral storage"),
        "as the catalog's [[functions]] give it for 1 function; the included size, which costs \
         nothing (Lambda: 512 MB) for the others"
    );

    // The scenarios keep it: as observed, it is the whole difference.
    let observed_usd = |pricing: &[&str]| {
        let compared = faasobs_json(
            data.path(),
            &[pricing, &["cost", "compare", "--format", "json"]].concat(),
        );
        number(&scenario(&compared, "serverless as observed")["monthly_usd"])
    };
    let month_factor = 730.0 * 60.0 / 10.0;
    let difference = observed_usd(&pricing) - observed_usd(&[]);
    assert!(
        (difference - storage_usd * month_factor).abs() <= 0.01 * storage_usd * month_factor,
        "{difference} vs {}",
        storage_usd * month_factor
    );
}

/// Head sampling leaves the sample's search-suggest with 78 invocations known only from its
/// logs, which say no architecture, beside 302 traced ones that say arm64: `cost catalog
/// --from-store` lists it as arm64 from its own invocations, so a report prices those 78 as
/// arm64; the log-only functions, which no invocation places, are named on standard error.
#[test]
fn a_catalog_from_the_store_places_a_function_by_what_its_other_invocations_say() {
    let data = sample_store();
    let unsaid = "SELECT function_name, count(*) AS n FROM invocations \
         WHERE architecture IS NULL GROUP BY 1 ORDER BY 1";
    assert_eq!(
        query_json(data.path(), unsaid),
        query_json(
            data.path(),
            "SELECT * FROM (VALUES ('auth-edge', 641), ('nightly-report', 10), \
             ('search-suggest', 78)) AS t(function_name, n)"
        )
    );
    let (catalog, notes) = faasobs_ok(data.path(), &["cost", "catalog", "--from-store"]);
    let entry = format!(
        "[[functions]]\nname = \"search-suggest\"\nregion = \"us-east-1\"\n\
         architecture = \"arm64\"\nsource = \"its invocations in {}\"\n",
        data.path().display()
    );
    assert!(catalog.ends_with(&entry), "{catalog}");
    assert_eq!(catalog.matches("\n[[functions]]\n").count(), 1, "{catalog}");
    assert!(
        notes.contains(
            "none of the invocations of auth-edge, nightly-report say their region or architecture"
        ),
        "{notes}"
    );

    let dir = tempfile::tempdir().unwrap();
    let pricing = dir.path().join("pricing.toml");
    std::fs::write(&pricing, &catalog).unwrap();
    let pricing = pricing.to_str().unwrap();
    let report = faasobs_json(
        data.path(),
        &["--pricing", pricing, "cost", "report", "--format", "json"],
    );
    assert_eq!(
        assumption(&report, "invocations priced with the catalog's defaults"),
        (641 + 10).to_string()
    );
    assert_eq!(
        assumption(
            &report,
            "invocations priced with the region or architecture of the catalog's functions"
        ),
        "78"
    );
    let priced = query_json(
        data.path(),
        "SELECT DISTINCT pricing_architecture FROM invocation_costs \
         WHERE function_name = 'search-suggest'",
    );
    // Without the catalog, the untraced ones are priced at the default architecture.
    assert_eq!(priced.len(), 2, "{priced:?}");
    let (with_catalog, _) = faasobs_ok(
        data.path(),
        &[
            "--pricing",
            pricing,
            "query",
            "--format",
            "csv",
            "SELECT DISTINCT pricing_architecture FROM invocation_costs \
             WHERE function_name = 'search-suggest'",
        ],
    );
    assert_eq!(with_catalog, "pricing_architecture\narm64\n");
}

/// Writes `text` as a catalog at `path`, runs `cost report` with it, expects a refusal and returns
/// what was said on standard error.
fn refused_catalog(data: &Path, path: &Path, text: &str) -> String {
    std::fs::write(path, text).unwrap();
    let out = faasobs()
        .arg("--data")
        .arg(data)
        .arg("--pricing")
        .arg(path)
        .args(["cost", "report"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{} was accepted", path.display());
    String::from_utf8_lossy(&out.stderr).into_owned()
}
