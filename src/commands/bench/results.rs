//! The results of a benchmark run: measurements grouped in sections, each with its reference
//! (DuckDB, the decode-only loop) and its target, plus the machine and versions they came from.

use serde_json::{Value, json};

use super::BenchConfig;

/// What a measurement should reach.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// Ours at most this value.
    AtMost(f64),
    /// Ours divided by the reference at most this.
    RatioAtMost(f64),
    /// Ours divided by the reference at least this.
    RatioAtLeast(f64),
}

impl Target {
    fn describe(self, unit: &str) -> String {
        match self {
            Target::AtMost(v) => format!("≤ {} {unit}", number(v)),
            Target::RatioAtMost(r) => format!("≤ {r}× ref"),
            Target::RatioAtLeast(r) => format!("≥ {r}× ref"),
        }
    }
}

/// One number, with what it is compared against.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub name: String,
    pub ours: f64,
    pub reference: Option<f64>,
    pub unit: &'static str,
    pub target: Option<Target>,
}

impl Measurement {
    pub fn new(name: impl Into<String>, ours: f64, unit: &'static str) -> Measurement {
        Measurement {
            name: name.into(),
            ours,
            reference: None,
            unit,
            target: None,
        }
    }

    pub fn against(mut self, reference: f64) -> Measurement {
        self.reference = Some(reference);
        self
    }

    pub fn target(mut self, target: Target) -> Measurement {
        self.target = Some(target);
        self
    }

    pub fn ratio(&self) -> Option<f64> {
        self.reference
            .filter(|r| *r > 0.0)
            .map(|reference| self.ours / reference)
    }

    /// Whether the target is met; `None` without a target (or a reference it needs).
    pub fn met(&self) -> Option<bool> {
        match self.target? {
            Target::AtMost(v) => Some(self.ours <= v),
            Target::RatioAtMost(r) => self.ratio().map(|x| x <= r),
            Target::RatioAtLeast(r) => self.ratio().map(|x| x >= r),
        }
    }
}

/// A group of measurements with the reference they are compared against.
#[derive(Debug, Clone)]
pub struct Section {
    pub title: String,
    pub reference: &'static str,
    pub rows: Vec<Measurement>,
    pub notes: Vec<String>,
}

impl Section {
    pub fn new(title: impl Into<String>, reference: &'static str) -> Section {
        Section {
            title: title.into(),
            reference,
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }
}

/// A whole run.
#[derive(Debug)]
pub struct Results {
    pub machine: Vec<(String, String)>,
    pub dataset: Option<String>,
    pub sections: Vec<Section>,
}

/// A number with as many digits as it deserves.
pub fn number(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

fn read_first_line_with(path: &str, prefix: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()?.lines().find_map(|l| {
        l.starts_with(prefix)
            .then(|| l.split(':').nth(1).unwrap_or("").trim().to_string())
    })
}

impl Results {
    pub fn new(config: &BenchConfig, duckdb_version: String) -> Results {
        let cpu = read_first_line_with("/proc/cpuinfo", "model name").unwrap_or("unknown".into());
        let memory = read_first_line_with("/proc/meminfo", "MemTotal").unwrap_or_default();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let machine = vec![
            (
                "date".into(),
                chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            ),
            ("cpu".into(), format!("{cpu}, {cores} cores")),
            ("memory".into(), memory),
            ("kernel".into(), kernel.trim().to_string()),
            ("faasobs".into(), env!("CARGO_PKG_VERSION").to_string()),
            (
                "build".into(),
                if cfg!(debug_assertions) {
                    "debug (numbers are not representative: use a release build)".into()
                } else {
                    "release".into()
                },
            ),
            (
                "DataFusion".into(),
                faasobs_analyzer::DATAFUSION_VERSION.to_string(),
            ),
            ("DuckDB".into(), duckdb_version),
            ("threads per engine".into(), config.threads.to_string()),
        ];
        Results {
            machine,
            dataset: None,
            sections: Vec::new(),
        }
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::from("## Machine and versions\n\n");
        for (k, v) in &self.machine {
            out.push_str(&format!("- {k}: {v}\n"));
        }
        if let Some(d) = &self.dataset {
            out.push_str(&format!("\nData set: {d}\n"));
        }
        for section in &self.sections {
            out.push_str(&format!(
                "\n## {}\n\n| measurement | faasobs | {} | ratio | target | met |\n|---|---:|---:|---:|---|---|\n",
                section.title, section.reference
            ));
            for m in &section.rows {
                let with_unit = |v: f64| format!("{} {}", number(v), m.unit);
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {} |\n",
                    m.name,
                    with_unit(m.ours),
                    m.reference.map(with_unit).unwrap_or_default(),
                    m.ratio().map(|r| format!("{r:.2}×")).unwrap_or_default(),
                    m.target.map(|t| t.describe(m.unit)).unwrap_or_default(),
                    match m.met() {
                        Some(true) => "yes",
                        Some(false) => "**no**",
                        None => "",
                    }
                ));
            }
            for note in &section.notes {
                out.push_str(&format!("\n{note}\n"));
            }
        }
        out
    }

    pub fn to_json(&self) -> Value {
        json!({
            "machine": self.machine.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            "dataset": self.dataset,
            "sections": self.sections.iter().map(|s| json!({
                "title": s.title,
                "reference": s.reference,
                "notes": s.notes,
                "measurements": s.rows.iter().map(|m| json!({
                    "name": m.name,
                    "unit": m.unit,
                    "faasobs": m.ours,
                    "reference": m.reference,
                    "ratio": m.ratio(),
                    "target": m.target.map(|t| t.describe(m.unit)),
                    "met": m.met(),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }
}
