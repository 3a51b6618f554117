//! The DataFusion session and the tables registered in it.
//!
//! Each table is a `ListingTable` over exactly the live Parquet files of the store (superseded
//! files left by an interrupted compaction and temporary files are never read), with the fixed
//! schema from `faasobs_collector::model`, never inferred. Files are sorted by `function_name` and
//! time and carry page statistics, so filters on those columns prune row groups and pages.
//!
//! `invocations` is a view over `invocation_fragments` (the stored rows) that merges the rows of
//! one request id, so a query never sees an invocation twice, whether or not compaction has
//! merged its fragments yet (`views/invocations.sql`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use faasobs_collector::model::Table;
use faasobs_collector::store::{StoreError, layout::list_table, local_objects};

/// The table of invocation rows as stored, fragments not yet merged by compaction included.
pub const FRAGMENTS_TABLE: &str = "invocation_fragments";

/// The SQL of the `invocations` view, which merges fragments by request id.
pub const INVOCATIONS_VIEW: &str = include_str!("views/invocations.sql");

/// Errors of the analyzer.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("{0}")]
    DataFusion(#[from] DataFusionError),
    #[error("{0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("queries are read-only: {0}")]
    NotReadOnly(String),
    #[error("{0}")]
    InvalidReport(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Tuning of the session.
#[derive(Debug, Clone)]
pub struct AnalyzerConfig {
    /// Threads that execute a query.
    pub target_partitions: usize,
    /// Memory a query may use before it fails cleanly.
    pub memory_limit_bytes: usize,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        AnalyzerConfig {
            target_partitions: std::thread::available_parallelism().map_or(2, |n| n.get()),
            memory_limit_bytes: 2 * 1024 * 1024 * 1024,
        }
    }
}

/// A DataFusion session over one data directory.
pub struct Analyzer {
    ctx: SessionContext,
    data_dir: PathBuf,
}

impl Analyzer {
    /// Opens the data directory (creating it when missing, so a fresh machine gets empty tables).
    pub async fn open(data_dir: &Path, config: AnalyzerConfig) -> Result<Analyzer, AnalyzerError> {
        let objects = local_objects(data_dir)?;
        let root = objects.local_root.clone().expect("local data directory");
        let mut session = SessionConfig::new()
            .with_target_partitions(config.target_partitions.max(1))
            .with_information_schema(true)
            .with_parquet_pruning(true)
            .with_collect_statistics(true);
        let options = session.options_mut();
        options.execution.parquet.pushdown_filters = true;
        options.execution.parquet.reorder_filters = true;
        options.execution.parquet.enable_page_index = true;
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(config.memory_limit_bytes, 1.0)
            .build_arc()?;
        let ctx = SessionContext::new_with_config_rt(session, runtime);
        ctx.register_udaf(crate::concurrency::peak_concurrency_udaf());
        ctx.register_udaf(crate::concurrency::peak_concurrency_time_udaf());
        for table in Table::ALL {
            let listing = list_table(objects.store.as_ref(), table).await?;
            let schema = table.schema();
            // Invocation rows on disk may still be fragments; `invocations` is the merging view.
            let name = match table {
                Table::Invocations => FRAGMENTS_TABLE,
                other => other.name(),
            };
            if listing.live.is_empty() {
                ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![vec![]])?))?;
                continue;
            }
            let urls = listing
                .live
                .iter()
                .map(|f| {
                    let path = f
                        .meta
                        .location
                        .parts()
                        .fold(root.clone(), |acc, p| acc.join(p.as_ref()));
                    ListingTableUrl::parse(format!("file://{}", path.display()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let format = ParquetFormat::default().with_enable_pruning(true);
            let options = ListingOptions::new(Arc::new(format)).with_file_extension(".parquet");
            let config = ListingTableConfig::new_with_multi_paths(urls)
                .with_listing_options(options)
                .with_schema(schema);
            ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
        }
        let view = ctx.sql(INVOCATIONS_VIEW).await?.into_view();
        ctx.register_table(Table::Invocations.name(), view)?;
        Ok(Analyzer {
            ctx,
            data_dir: root,
        })
    }

    /// The session, for running queries.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The data directory, canonicalized.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}
