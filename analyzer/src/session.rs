//! The DataFusion session and the tables registered in it.
//!
//! Each table is a `ListingTable` over exactly the live Parquet files of the store (superseded
//! files left by an interrupted compaction and temporary files are never read), with the fixed
//! schema from `faasobs_collector::model`, never inferred. Files are sorted by `function_name` and
//! time and carry page statistics, so filters on those columns prune row groups and pages.
//!
//! Rows acknowledged by a running collector but still only in its write-ahead log are read from
//! the WAL segments and added to each table, so nothing acknowledged is invisible to a query.
//! A copy of a store on object storage ([`crate::location`]) is read from its Parquet files alone.
//!
//! `invocations` is one row per request id, so a query never sees an invocation twice, whether or
//! not compaction has merged its fragments yet: final rows of hour-merged files pass through and
//! the rest are merged by request id ([`crate::invocations_view`]). `invocation_fragments` is
//! every stored invocation row, as stored.
//!
//! `spans` and `logs` are views too: their rows as stored (`store.spans`, `store.logs`) with
//! each resource's attributes joined back from `resources` as `resource_attributes`
//! (`resource_view`); files of schema version 1, which stored them on every row, still read.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use crate::cost::Catalog;
use crate::cost::reported_files::{ReportedFile, ReportedRows};
use crate::cost::sql::InvocationRows;
use crate::invocations_view::{
    Dialect, HOUR_MERGED_TABLE, SHARED_IDS_TABLE, STORE_SCHEMA, UNMERGED_TABLE, ViewInputs,
    invocations_view,
};
use crate::listed_objects::ListedObjects;
use crate::location::DataLocation;
use arrow::array::{AsArray, BooleanArray, StringViewArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::TimestampNanosecondType;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::catalog::MemorySchemaProvider;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Column;
use datafusion::common::config::SpillCompression;
use datafusion::datasource::MemTable;
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::DataFusionError;
use datafusion::execution::cache::cache_manager::{
    CacheManagerConfig, CachedFileMetadataEntry, DEFAULT_METADATA_CACHE_LIMIT, FileMetadataCache,
};
use datafusion::execution::cache::default_cache::DefaultCache;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::TableProviderFilterPushDown;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{DataFrame, Expr, SessionConfig, SessionContext, cast};
use faasobs_collector::model::Table;
use faasobs_collector::store::layout::{Listing, Partition, list_table};
use faasobs_collector::store::object_storage::{self, Bucket};
use faasobs_collector::store::writer::{Objects, local_path, shared_request_ids};
use faasobs_collector::store::{StoreError, WAL_DIR, local_objects};
use faasobs_collector::wal::{list_segments, read_segment};
use object_store::ObjectMeta;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;

/// Parquet footers, kept across the analyzers of one process. The dashboard opens an analyzer
/// for every refresh, and each read every live file's footer again: once for the invocations
/// view's split, and again in DataFusion, which plans with every file's statistics and scans
/// with its page index. An entry is used only while its file's size and modification time are
/// unchanged (a rewritten file is read again).
struct KnownFooters {
    /// DataFusion's footers and page indexes (its own cache, shared by every session).
    datafusion: Arc<FileMetadataCache>,
    /// What each invocation file's footer says, by URL, size and modification time.
    invocation_files: Mutex<HashMap<ListingTableUrl, FooterOf>>,
}

/// What one file's footer said, and the size and modification time it was read at.
struct FooterOf {
    size: u64,
    modified: chrono::DateTime<chrono::Utc>,
    facts: FooterFacts,
}

/// What the session reads of an invocation file's footer (nothing, by default: a footer that
/// could not be read).
#[derive(Debug, Clone, Default)]
struct FooterFacts {
    /// Its shared request ids as the view reads them (`None`: not hour-merged).
    shared_ids: Option<Vec<String>>,
    /// What its statistics prove for pricing ([`ReportedFile::from_footer`]).
    reported: Option<ReportedFile>,
}

/// Entries of [`KnownFooters::invocation_files`] beyond which it starts afresh (a footer is re-read,
/// never wrong): far more files than a store keeps live.
const KNOWN_FOOTERS_LIMIT: usize = 100_000;

static KNOWN_FOOTERS: LazyLock<KnownFooters> = LazyLock::new(|| KnownFooters {
    datafusion: Arc::new(
        DefaultCache::<ObjectPath, CachedFileMetadataEntry>::new(DEFAULT_METADATA_CACHE_LIMIT)
            .with_name("faasobs footers"),
    ),
    invocation_files: Mutex::new(HashMap::new()),
});

impl KnownFooters {
    fn facts(&self, file: &ListingTableUrl, meta: &ObjectMeta) -> Option<FooterFacts> {
        let known = self.invocation_files.lock().expect("footer memo lock");
        let footer = known.get(file)?;
        (footer.size == meta.size && footer.modified == meta.last_modified)
            .then(|| footer.facts.clone())
    }

    fn remember(&self, file: ListingTableUrl, meta: &ObjectMeta, facts: FooterFacts) {
        let mut known = self.invocation_files.lock().expect("footer memo lock");
        if known.len() >= KNOWN_FOOTERS_LIMIT {
            known.clear();
        }
        known.insert(
            file,
            FooterOf {
                size: meta.size,
                modified: meta.last_modified,
                facts,
            },
        );
    }
}

/// The table of invocation rows as stored, fragments not yet merged by compaction included.
pub const FRAGMENTS_TABLE: &str = "invocation_fragments";

/// Registers the aggregate the merging view uses besides DataFusion's own (`max_text`).
pub fn register_merge_aggregates(ctx: &SessionContext) {
    ctx.register_udaf(crate::max_text::max_text_udaf());
}

/// Errors of the analyzer.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error(transparent)]
    DataFusion(DataFusionError),
    /// A price or billing rule the catalog does not have, met while a query priced invocations:
    /// the catalog's words, which say what to add.
    #[error("{0}")]
    MissingPrice(String),
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("queries are read-only: {0}")]
    NotReadOnly(String),
    /// The SQL parser could not read a statement; its message says where.
    #[error("SQL syntax error: {0}")]
    Syntax(String),
    /// More than one statement where one is run at a time.
    #[error(
        "one statement at a time: this SQL holds {0} statements (`faasobs sql` runs several, one after another)"
    )]
    SeveralStatements(usize),
    /// A query named a table that does not exist; the message names the tables there are.
    #[error("{0}")]
    UnknownTable(String),
    #[error("{0}")]
    InvalidReport(String),
    #[error(transparent)]
    Pricing(#[from] crate::cost::CatalogError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<DataFusionError> for AnalyzerError {
    fn from(error: DataFusionError) -> Self {
        // The cost functions fail with the catalog's error inside DataFusion's, which would
        // otherwise be said after `External error: `.
        if let DataFusionError::External(inner) = error.find_root()
            && inner.downcast_ref::<crate::cost::CatalogError>().is_some()
        {
            return AnalyzerError::MissingPrice(inner.to_string());
        }
        AnalyzerError::DataFusion(error)
    }
}

impl AnalyzerError {
    /// True for a query that ran out of its memory limit (what could not spill).
    pub fn is_over_memory_limit(&self) -> bool {
        matches!(self, AnalyzerError::DataFusion(e)
            if matches!(e.find_root(), DataFusionError::ResourcesExhausted(_)))
    }
}

/// Tuning of the session.
#[derive(Debug, Clone)]
pub struct AnalyzerConfig {
    /// Threads that execute a query.
    pub target_partitions: usize,
    /// Memory a query may use before it fails cleanly.
    pub memory_limit_bytes: usize,
    /// When set, only the hourly partitions near this window are registered (partition pruning
    /// by time); queries must still filter on time themselves.
    pub window: Option<TimeWindow>,
    /// The prices the cost functions and views use.
    pub catalog: Arc<Catalog>,
}

/// A time window, ns since the epoch; either end may be open.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeWindow {
    pub since: Option<i64>,
    pub until: Option<i64>,
}

impl TimeWindow {
    /// Fragments of one invocation may sit in neighbouring hours (their sources disagree a little
    /// on its start), so partitions within this margin of the window are kept.
    const MARGIN_NS: i64 = 3_600_000_000_000;

    fn keeps(&self, partition: &faasobs_collector::store::Partition) -> bool {
        let start = partition.hour.saturating_mul(3_600_000_000_000);
        self.since
            .is_none_or(|since| partition.end_ns() > since.saturating_sub(Self::MARGIN_NS))
            && self
                .until
                .is_none_or(|until| start < until.saturating_add(Self::MARGIN_NS))
    }
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        AnalyzerConfig {
            target_partitions: std::thread::available_parallelism().map_or(2, |n| n.get()),
            memory_limit_bytes: 2 * 1024 * 1024 * 1024,
            window: None,
            catalog: Arc::new(Catalog::builtin()),
        }
    }
}

/// A DataFusion session over one store.
pub struct Analyzer {
    ctx: SessionContext,
    location: DataLocation,
    /// The local data directory, canonicalized (none on object storage).
    directory: Option<PathBuf>,
    catalog: Arc<Catalog>,
    invocation_files: InvocationFiles,
    holds_nothing: bool,
}

/// The invocation files of a session, by kind (see [`crate::invocations_view`]).
#[derive(Debug, Clone, Default)]
pub struct InvocationFiles {
    /// Files written by an hour merge.
    pub hour_merged: Vec<ListingTableUrl>,
    /// Files not hour-merged yet.
    pub unmerged: Vec<ListingTableUrl>,
    /// The request ids the hour-merged files list as shared with other files, sorted.
    pub shared_request_ids: Vec<String>,
    /// Which kinds of rows the view reads (unflushed WAL rows count as fragments).
    pub inputs: ViewInputs,
    /// The hour-merged files `invocation_costs` prices from reported billed durations alone
    /// (none unless every row passes through the view).
    pub reported: ReportedRows,
}

/// The hour-merged files [`InvocationFiles::reported`] names, for `invocation_costs`.
pub const REPORTED_ROWS_TABLE: &str = "store.reported_invocations";
/// The other hour-merged files, for `invocation_costs`, when every row passes through the view.
pub const OTHER_ROWS_TABLE: &str = "store.other_invocations";

fn shared_ids_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![Field::new(
        "request_id",
        DataType::Utf8View,
        false,
    )]))
}

/// Where DataFusion reads the store's objects.
enum FilesAt {
    /// Under a local directory (canonicalized).
    Directory(PathBuf),
    /// In a bucket, under the store's prefix.
    Bucket(Bucket),
}

impl FilesAt {
    /// The URL of the store's object `location`.
    fn url(&self, location: &ObjectPath) -> Result<ListingTableUrl, DataFusionError> {
        match self {
            FilesAt::Directory(root) => {
                ListingTableUrl::parse(format!("file://{}", local_path(root, location).display()))
            }
            FilesAt::Bucket(bucket) => crate::location::file_url(bucket, location),
        }
    }
}

/// The schema queries see for `table`: the stored schema, with its text columns as `Utf8View`;
/// `spans` and `logs` also have `resource_attributes`, the column files of schema
/// version 1 have instead of `resource_id` (null in newer files).
///
/// Parquet stores these columns dictionary-encoded. Read as `Utf8`, every value is copied out of
/// the dictionary into a new buffer; read as `Utf8View`, a value is a 16-byte view into the
/// dictionary page (short ones inline). On the reference's cost formula over 10M invocations,
/// the copy was about a quarter of the samples (benchmarks-history.md).
pub fn query_schema(table: Table) -> Arc<Schema> {
    let stored = table.schema();
    let fields: Vec<_> = stored
        .fields()
        .iter()
        .map(|field| match field.data_type() {
            DataType::Utf8 => Arc::new(field.as_ref().clone().with_data_type(DataType::Utf8View)),
            _ => Arc::clone(field),
        })
        .chain(matches!(table, Table::Spans | Table::Logs).then(|| {
            Arc::new(Field::new(
                LEGACY_RESOURCE_ATTRIBUTES,
                faasobs_collector::model::attributes::data_type(),
                true,
            ))
        }))
        .collect();
    Arc::new(Schema::new_with_metadata(fields, stored.metadata().clone()))
}

/// The column of each span's and log record's resource attributes in files of schema version 1,
/// before they were kept once in `resources`. The `spans` and `logs` views show it where a row
/// has no resource row (see [`resource_view`]).
const LEGACY_RESOURCE_ATTRIBUTES: &str = "resource_attributes";

/// The table of one `resources` row per resource id ([`OneRowPerResource`]) the `spans` and
/// `logs` views join.
const UNIQUE_RESOURCES_TABLE: &str = "store.unique_resources";

/// The SQL of the `spans` or `logs` view: the stored rows (in `store.`*table*) with their
/// resource's attributes joined back from `resources` as `resource_attributes`, right after
/// `resource_id`. A resource has a row for each hour it was seen in, all alike: one per id is
/// joined ([`UNIQUE_RESOURCES_TABLE`]). Rows of version 1 files keep the attributes they were
/// stored with.
fn resource_view(table: Table) -> String {
    let columns: Vec<String> = table
        .schema()
        .fields()
        .iter()
        .map(|field| {
            let column = format!("s.\"{}\"", field.name());
            if field.name() == "resource_id" {
                format!(
                    "{column}, coalesce(r.attributes, s.{LEGACY_RESOURCE_ATTRIBUTES}) \
                     AS {LEGACY_RESOURCE_ATTRIBUTES}"
                )
            } else {
                column
            }
        })
        .collect();
    format!(
        "SELECT {} FROM {STORE_SCHEMA}.{table} s \
         LEFT JOIN {UNIQUE_RESOURCES_TABLE} r ON s.resource_id = r.resource_id",
        columns.join(", "),
        table = table.name(),
    )
}

/// `batch` (stored types, as the WAL holds it) in the types of `schema`; a column the batch does
/// not have (the legacy resource attributes) is null.
fn in_query_types(
    batch: RecordBatch,
    schema: &Arc<Schema>,
) -> Result<RecordBatch, DataFusionError> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(column) => arrow::compute::cast(column, field.data_type()),
            None => Ok(arrow::array::new_null_array(
                field.data_type(),
                batch.num_rows(),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// A table of `table`'s rows in the Parquet files `files` (never inferred: the stored schema,
/// text read as `Utf8View`, see [`query_schema`]) plus `wal_rows`, acknowledged rows not yet in
/// Parquet.
fn stored_table(
    ctx: &SessionContext,
    table: Table,
    files: &[ListingTableUrl],
    wal_rows: Vec<RecordBatch>,
) -> Result<Arc<dyn TableProvider>, DataFusionError> {
    let schema = query_schema(table);
    let wal_rows = wal_rows
        .into_iter()
        .map(|batch| in_query_types(batch, &schema))
        .collect::<Result<Vec<_>, _>>()?;
    if files.is_empty() {
        return Ok(Arc::new(MemTable::try_new(schema, vec![wal_rows])?));
    }
    let format = ParquetFormat::default().with_enable_pruning(true);
    let options = ListingOptions::new(Arc::new(format)).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(files.to_vec())
        .with_listing_options(options)
        .with_schema(schema);
    let mut parquet: Arc<dyn TableProvider> = Arc::new(ListingTable::try_new(config)?);
    if table == Table::Spans {
        parquet = Arc::new(WithoutPlanningStatistics(parquet));
    }
    if wal_rows.is_empty() {
        return Ok(parquet);
    }
    // Acknowledged rows not yet in Parquet: the files plus the WAL's rows.
    Ok(ctx
        .read_table(parquet)?
        .union(ctx.read_batches(wal_rows)?)?
        .into_view())
}

impl Analyzer {
    /// Opens a store: a local data directory (`&Path` converts) or a copy of one on object
    /// storage. A missing directory reads as empty tables and is not created: a first run gets
    /// its tables' columns, and a mistyped `--data` leaves no folder behind.
    pub async fn open(
        data: impl Into<DataLocation>,
        config: AnalyzerConfig,
    ) -> Result<Analyzer, AnalyzerError> {
        let location = data.into();
        let in_bucket = |bucket: Bucket| (bucket.objects(), FilesAt::Bucket(bucket));
        // The local directory (canonicalized), whose WAL holds the rows not flushed yet.
        let mut directory = None;
        let (objects, files_at) = match &location {
            DataLocation::Directory(dir) if dir.exists() => {
                let objects = local_objects(dir)?;
                let root = objects.local_root.clone().expect("local data directory");
                directory = Some(root.clone());
                // A collector may keep this directory's Parquet files in a bucket.
                match object_storage::remembered(&root)? {
                    Some(url) => in_bucket(Bucket::open(&url)?),
                    None => (objects, FilesAt::Directory(root)),
                }
            }
            DataLocation::Directory(dir) => {
                let root = std::path::absolute(dir).map_err(|source| AnalyzerError::Io {
                    path: dir.clone(),
                    source,
                })?;
                directory = Some(root.clone());
                let objects = Objects {
                    store: Arc::new(InMemory::new()),
                    local_root: Some(root.clone()),
                    scratch: None,
                };
                (objects, FilesAt::Directory(root))
            }
            DataLocation::ObjectStore(url) => in_bucket(Bucket::open(url)?),
        };
        let mut session = SessionConfig::new()
            .with_target_partitions(config.target_partitions.max(1))
            .with_information_schema(true)
            .with_parquet_pruning(true)
            .with_collect_statistics(true);
        let options = session.options_mut();
        options.execution.parquet.pushdown_filters = true;
        options.execution.parquet.reorder_filters = true;
        options.execution.parquet.enable_page_index = true;
        // DataFusion 55's pushdown of struct field access (`c['x']`) towards the scans failed to
        // plan any query of `invocation_costs`, whose fields are read from a struct, over a store
        // with fragments ("UNION field 0 have different type in inputs"), and is known upstream
        // for wrong results too (apache/datafusion#25459). Queries read the same columns without it.
        options.optimizer.enable_leaf_expression_pushdown = false;
        // DataFusion 55 builds an aggregate's dynamic filter from its `min`/`max` of plain
        // columns and ignores the others, so `SELECT min(start_time), max(coalesce(end_time,
        // start_time))` pruned the files its second aggregate needed and answered a wrong
        // maximum (apache/datafusion#24816, fixed upstream after 55; the dashboard's `all` window
        // asks exactly that). Only aggregates without GROUP BY used the filter.
        options.optimizer.enable_aggregate_dynamic_filter_pushdown = false;
        // Spill files hold merge states full of repeated names and hex ids. At 100M invocations
        // the cost query's uncompressed spill passed 19 GB and filled the disk; compressed with
        // zstd it wrote 7.5 GB and completed. On p50/p95/p99 at 100M, zstd wrote half of lz4's
        // bytes in about 8 % more time, and took as long as no compression (benchmarks).
        options.execution.spill_compression = SpillCompression::Zstd;
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(config.memory_limit_bytes, 1.0)
            .with_cache_manager(
                CacheManagerConfig::default()
                    .with_file_metadata_cache(Some(KNOWN_FOOTERS.datafusion.clone())),
            )
            .build_arc()?;
        let state = SessionStateBuilder::new()
            .with_config(session)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(crate::run_sums::CollapseRunsBeforeSums))
            .build();
        let ctx = SessionContext::new_with_state(state);
        ctx.register_udaf(crate::concurrency::peak_concurrency_udaf());
        ctx.register_udaf(crate::concurrency::peak_concurrency_time_udaf());
        ctx.register_udaf(crate::percentile::percentile_cont_udaf());
        ctx.add_optimizer_rule(Arc::new(crate::shared_percentiles::SharePercentiles));
        ctx.register_udf(crate::utc_date_trunc::date_trunc_udf());
        register_merge_aggregates(&ctx);
        // A copy on object storage has no WAL that a collector appends to.
        let (listings, mut unflushed) =
            files_and_unflushed_rows(directory.as_deref(), async || {
                let mut listings = Vec::new();
                for table in Table::ALL {
                    listings.push((table, list_table(objects.store.as_ref(), table).await?));
                }
                Ok(listings)
            })
            .await?;
        // Before the window narrows the listings: a store with nothing in the window is not empty.
        let holds_nothing = listings.iter().all(|(_, listing)| listing.live.is_empty())
            && unflushed
                .values()
                .flatten()
                .all(|batch| batch.num_rows() == 0);
        let mut invocation_files = InvocationFiles::default();
        // What the footer of each hour-merged file proves for pricing, in the order of
        // `invocation_files.hour_merged`.
        let mut reported_files = Vec::new();
        // The view's inputs live in their own schema, out of the way of `\dt` and SHOW TABLES.
        ctx.catalog(&ctx.state().config_options().catalog.default_catalog)
            .expect("the default catalog exists")
            .register_schema(STORE_SCHEMA, Arc::new(MemorySchemaProvider::new()))?;
        // The files the tables read, each by the key its URL names in the store.
        let mut listed = Vec::new();
        for (table, mut listing) in listings {
            if let Some(window) = config.window {
                listing.live.retain(|f| window.keeps(&f.partition));
            }
            let files = listing
                .live
                .iter()
                .map(|f| files_at.url(&f.meta.location))
                .collect::<Result<Vec<_>, _>>()?;
            listed.extend(
                listing
                    .live
                    .iter()
                    .zip(&files)
                    .map(|(file, url)| ObjectMeta {
                        location: url.prefix().clone(),
                        ..file.meta.clone()
                    }),
            );
            let wal_rows = unflushed.remove(&table).unwrap_or_default();
            // Invocation rows on disk may still be fragments; `invocations` is a view, and so
            // are `spans` and `logs`, which join their resources' attributes back.
            let name = match table {
                Table::Invocations => FRAGMENTS_TABLE.to_string(),
                Table::Spans | Table::Logs => format!("{STORE_SCHEMA}.{}", table.name()),
                Table::Resources => table.name().to_string(),
            };
            let stored = stored_table(&ctx, table, &files, wal_rows.clone())?;
            if table == Table::Resources {
                ctx.register_table(
                    UNIQUE_RESOURCES_TABLE,
                    Arc::new(OneRowPerResource(Arc::clone(&stored))),
                )?;
            }
            ctx.register_table(name, stored)?;
            if table != Table::Invocations {
                continue;
            }
            for (file, url) in listing.live.iter().zip(files) {
                // A file a running collector replaced since the listing reads as fragments,
                // which is always correct: its rows are merged, not passed through.
                let facts = match KNOWN_FOOTERS.facts(&url, &file.meta) {
                    Some(known) => known,
                    None => match objects.read_metadata(&file.meta).await {
                        Ok(metadata) => {
                            let facts = FooterFacts {
                                shared_ids: shared_request_ids(&metadata),
                                reported: ReportedFile::from_footer(&metadata),
                            };
                            KNOWN_FOOTERS.remember(url.clone(), &file.meta, facts.clone());
                            facts
                        }
                        Err(e) => {
                            tracing::debug!("{url}: footer not read: {e}");
                            FooterFacts::default()
                        }
                    },
                };
                match facts.shared_ids {
                    Some(ids) => {
                        reported_files.push(facts.reported);
                        invocation_files.hour_merged.push(url);
                        invocation_files.shared_request_ids.extend(ids);
                    }
                    None => invocation_files.unmerged.push(url),
                }
            }
            invocation_files.shared_request_ids.sort_unstable();
            invocation_files.shared_request_ids.dedup();
            let has_wal_rows = wal_rows.iter().any(|b| b.num_rows() > 0);
            ctx.register_table(
                HOUR_MERGED_TABLE,
                stored_table(&ctx, table, &invocation_files.hour_merged, Vec::new())?,
            )?;
            ctx.register_table(
                UNMERGED_TABLE,
                stored_table(&ctx, table, &invocation_files.unmerged, wal_rows)?,
            )?;
            invocation_files.inputs = ViewInputs {
                hour_merged: !invocation_files.hour_merged.is_empty(),
                unmerged: !invocation_files.unmerged.is_empty() || has_wal_rows,
                shared_ids: !invocation_files.shared_request_ids.is_empty(),
            };
        }
        // The scans' HEAD of each file is answered from the listing, not the store, and a file
        // changed since fails the query instead of being read as nothing (`listed_objects`).
        let (files_url, store) = match &files_at {
            FilesAt::Bucket(bucket) => (
                bucket.url.clone(),
                ListedObjects::new(Arc::clone(&bucket.store), listed),
            ),
            FilesAt::Directory(_) => (
                url::Url::parse("file://").expect("a URL"),
                ListedObjects::local(listed),
            ),
        };
        ctx.register_object_store(&files_url, Arc::new(store));
        let shared_ids = RecordBatch::try_new(
            shared_ids_schema(),
            vec![Arc::new(StringViewArray::from(
                invocation_files.shared_request_ids.clone(),
            ))],
        )?;
        ctx.register_table(
            SHARED_IDS_TABLE,
            Arc::new(MemTable::try_new(
                shared_ids_schema(),
                vec![vec![shared_ids]],
            )?),
        )?;
        let view = with_query_types(
            ctx.sql(&invocations_view(invocation_files.inputs, Dialect::Faasobs))
                .await?,
            &query_schema(Table::Invocations),
        )?
        .into_view();
        ctx.register_table(Table::Invocations.name(), view)?;
        for table in [Table::Spans, Table::Logs] {
            let view = ctx.sql(&resource_view(table)).await?.into_view();
            ctx.register_table(table.name(), view)?;
        }
        let rows = if invocation_files.inputs.passes_every_row_through() {
            // The cost view reads rows as stored, from two tables of the hour-merged files.
            let files = invocation_files.hour_merged.iter().cloned();
            let (reported, others) = ReportedRows::pick(&config.catalog, files.zip(reported_files));
            let table_of = |name: &str, files: &[ListingTableUrl]| {
                if files.is_empty() {
                    return Ok(None);
                }
                ctx.register_table(name, stored_table(&ctx, Table::Invocations, files, vec![])?)?;
                Ok::<_, DataFusionError>(Some(name.to_string()))
            };
            let rows = InvocationRows::AsStored {
                reported: table_of(REPORTED_ROWS_TABLE, &reported.files)?
                    .map(|table| (table, reported.priced_at_ns)),
                others: table_of(OTHER_ROWS_TABLE, &others)?,
            };
            invocation_files.reported = reported;
            rows
        } else {
            InvocationRows::Merged
        };
        crate::cost::sql::register(&ctx, config.catalog.clone(), rows).await?;
        Ok(Analyzer {
            ctx,
            directory,
            location,
            catalog: config.catalog,
            invocation_files,
            holds_nothing,
        })
    }

    /// True when the data directory held no rows when this session opened: no Parquet file of
    /// any table, no rows in the WAL (whatever the window). Its tables are empty, with their
    /// columns.
    pub fn holds_nothing(&self) -> bool {
        self.holds_nothing
    }

    /// The invocation files this session reads, by kind, and the view's inputs.
    pub fn invocation_files(&self) -> &InvocationFiles {
        &self.invocation_files
    }

    /// The session, for running queries.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The pricing catalog of this session.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Where the store is, as it was given.
    pub fn location(&self) -> &DataLocation {
        &self.location
    }

    /// The local data directory, canonicalized (none on object storage).
    pub fn directory(&self) -> Option<&Path> {
        self.directory.as_deref()
    }
}

/// A table planned without reading every file's statistics first. Spans are looked up by trace
/// id, which file statistics cannot prune (random ids): reading all footers to plan made a fresh
/// trace lookup about a quarter slower, and its row groups are still pruned by statistics and
/// bloom filters as each file opens. DataFusion only has the setting per session, so the scan
/// runs in a copy of the session with it off.
#[derive(Debug)]
struct WithoutPlanningStatistics(Arc<dyn TableProvider>);

#[async_trait::async_trait]
impl TableProvider for WithoutPlanningStatistics {
    fn schema(&self) -> arrow::datatypes::SchemaRef {
        self.0.schema()
    }

    fn table_type(&self) -> TableType {
        self.0.table_type()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>, DataFusionError> {
        self.0.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>, DataFusionError> {
        let Some(session) = state.as_any().downcast_ref::<SessionState>() else {
            return self.0.scan(state, projection, filters, limit).await;
        };
        let mut session = session.clone();
        session
            .config_mut()
            .options_mut()
            .execution
            .collect_statistics = false;
        self.0.scan(&session, projection, filters, limit).await
    }
}

/// `resources` with one row per resource id, read into memory when a query scans it (the
/// resources of a store are few: one per execution environment). Rows of one id are alike
/// (the id is a hash of the attributes), so the first is kept. Deduplicating in SQL instead
/// (`first_value(attributes) ... GROUP BY resource_id`) made DataFusion reserve gigabytes for a
/// few thousand map values and fail with `Resources exhausted` (it sizes each kept map by the
/// whole batch its slice points into).
#[derive(Debug)]
struct OneRowPerResource(Arc<dyn TableProvider>);

#[async_trait::async_trait]
impl TableProvider for OneRowPerResource {
    fn schema(&self) -> arrow::datatypes::SchemaRef {
        self.0.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>, DataFusionError> {
        let plan = self.0.scan(state, None, &[], None).await?;
        let batches = datafusion::physical_plan::collect(plan, state.task_ctx()).await?;
        let unique = first_row_per_resource(batches)?;
        Ok(MemorySourceConfig::try_new_exec(
            &[unique],
            self.schema(),
            projection.cloned(),
        )?)
    }
}

/// The first row of each `resource_id` in `batches`.
fn first_row_per_resource(batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>, DataFusionError> {
    use arrow::array::{AsArray, BooleanArray};
    let mut seen = std::collections::HashSet::new();
    batches
        .into_iter()
        .map(|batch| {
            let ids = batch
                .column_by_name("resource_id")
                .and_then(|c| c.as_fixed_size_binary_opt())
                .ok_or_else(|| DataFusionError::Internal("resources without resource_id".into()))?;
            let keep: BooleanArray = (0..batch.num_rows())
                .map(|row| Some(seen.insert(ids.value(row).to_vec())))
                .collect();
            Ok(arrow::compute::filter_record_batch(&batch, &keep)?)
        })
        .collect()
}

/// `frame` with each column cast to the type of the same-named field of `want`, where they
/// differ: the `invocations` view aggregates ids as variable-length binary (see its SQL) and
/// merged text as `Utf8` (`max_text`), but shows the tables' types ([`query_schema`]).
fn with_query_types(frame: DataFrame, want: &Schema) -> Result<DataFrame, DataFusionError> {
    let columns = frame
        .schema()
        .fields()
        .iter()
        .map(|field| {
            let column = Expr::Column(Column::new_unqualified(field.name()));
            match want.field_with_name(field.name()) {
                Ok(wanted) if wanted.data_type() != field.data_type() => {
                    cast(column, wanted.data_type().clone()).alias(field.name())
                }
                _ => column,
            }
        })
        .collect::<Vec<_>>();
    frame.select(columns)
}

/// The store's files, as `list_files` lists them, and the WAL's rows that none of those files
/// holds yet (acknowledged, not yet flushed), by table: one moment's view, whatever the flusher
/// does meanwhile. A flush of segment `n` writes a file `{n}-{n}` for each table and hour it has
/// rows in, one after another, and then deletes the segment; a compaction's file covers the
/// segments its inputs did. So a row of segment `n` is in a listed file exactly when a listed
/// file of its table and hour covers `n`, and it is taken from the WAL otherwise. The WAL is read
/// first: a segment flushed while the files are listed is then in the listing or in the rows
/// read here, never in neither. Read after the listing, a segment flushed and deleted in between
/// was in neither; and a segment judged flushed by any one of its files lost the rows of the
/// files not listed yet (the spans of a segment whose invocations file was listed). A segment
/// being appended to is read up to its last whole record.
async fn files_and_unflushed_rows(
    wal_root: Option<&Path>,
    list_files: impl AsyncFnOnce() -> Result<Vec<(Table, Listing)>, AnalyzerError>,
) -> Result<(Vec<(Table, Listing)>, HashMap<Table, Vec<RecordBatch>>), AnalyzerError> {
    let segments = wal_root.map(read_wal).unwrap_or_default();
    let listings = list_files().await?;
    let mut rows: HashMap<Table, Vec<RecordBatch>> = HashMap::new();
    for (id, records) in segments {
        // The hours of each table whose rows of segment `id` are in a listed file (once per
        // segment: a segment holds a batch per write).
        let flushed_hours: HashMap<Table, HashSet<i64>> = listings
            .iter()
            .map(|(table, listing)| {
                let hours = listing
                    .live
                    .iter()
                    .filter(|file| file.range.lo <= id && id <= file.range.hi)
                    .map(|file| file.partition.hour)
                    .collect();
                (*table, hours)
            })
            .collect();
        for (table, batch) in records {
            let unflushed = match flushed_hours.get(&table) {
                Some(hours) if !hours.is_empty() => rows_outside_hours(table, &batch, hours)?,
                _ => batch,
            };
            if unflushed.num_rows() > 0 {
                rows.entry(table).or_default().push(unflushed);
            }
        }
    }
    Ok((listings, rows))
}

/// The rows of `batch` (of `table`) whose hour is not one of `hours`.
fn rows_outside_hours(
    table: Table,
    batch: &RecordBatch,
    hours: &HashSet<i64>,
) -> Result<RecordBatch, AnalyzerError> {
    let times = batch
        .column_by_name(table.time_column())
        .and_then(|column| column.as_primitive_opt::<TimestampNanosecondType>())
        .ok_or_else(|| {
            DataFusionError::Internal(format!(
                "WAL rows of {} without their time column",
                table.name()
            ))
        })?;
    let keep: BooleanArray = times
        .values()
        .iter()
        .map(|ns| Some(!hours.contains(&Partition::of(table, *ns).hour)))
        .collect();
    Ok(filter_record_batch(batch, &keep)?)
}

/// The whole records of every WAL segment in the data directory `root`, by segment id.
fn read_wal(root: &Path) -> Vec<(u64, Vec<(Table, RecordBatch)>)> {
    let segments = match list_segments(&root.join(WAL_DIR)) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("could not list the WAL, querying Parquet only: {e}");
            return Vec::new();
        }
    };
    let mut read = Vec::new();
    for (id, path) in segments {
        match read_segment(&path) {
            Ok(contents) => read.push((id, contents.records)),
            // Flushed and deleted since it was listed: its file was written first, and the
            // listing of the files, which comes next, finds it.
            Err(e) => tracing::debug!("WAL segment {id} not read: {e}"),
        }
    }
    read
}

#[cfg(test)]
mod tests {
    use super::*;
    use faasobs_collector::store::Partition;

    /// A server span of function `name` in trace `trace` (its first byte the span's id and time),
    /// of the resource with `resource`'s attributes.
    fn span_row<'a>(
        name: &'a str,
        trace: [u8; 16],
        resource: &'a faasobs_collector::model::AttributeRefs<'a>,
    ) -> faasobs_collector::model::SpanRow<'a> {
        faasobs_collector::model::SpanRow {
            trace_id: trace,
            span_id: [trace[0]; 8],
            parent_span_id: None,
            trace_state: None,
            name,
            kind: "server",
            start_time: i64::from(trace[0]) * 1_000,
            end_time: i64::from(trace[0]) * 1_000 + 500,
            status_code: "unset",
            status_message: None,
            service_name: None,
            function_name: Some(name.into()),
            request_id: None,
            scope_name: None,
            attributes: &[],
            resource_attributes: resource,
            resource_id: faasobs_collector::model::resource::resource_id_of_refs(resource),
            events: &[],
        }
    }

    /// A trace looked up with all its columns joins one resources row per id, within a small
    /// memory limit, among thousands of resources. Deduplicating them with `first_value` over
    /// the attribute maps made DataFusion reserve gigabytes and fail (a benchmark found it).
    #[tokio::test]
    async fn a_trace_with_its_resources_attributes_reads_within_a_small_memory_limit() {
        use faasobs_collector::model::{AttributeRef, ResourceRows, SpanBuilder};
        use faasobs_collector::store::flush::flush_records;
        use faasobs_collector::store::local_objects;

        let dir = tempfile::tempdir().unwrap();
        let objects = local_objects(dir.path()).unwrap();
        let instances: Vec<String> = (0..3_000).map(|i| format!("instance-{i:05}")).collect();
        let texts = [
            "eu-west-1",
            "aws",
            "aws_lambda",
            "python3.12",
            "x86_64",
            "$LATEST",
        ];
        let resources: Vec<Vec<(&str, AttributeRef)>> = instances
            .iter()
            .map(|instance| {
                let mut attributes = vec![
                    ("faas.name", AttributeRef::String("orders")),
                    ("faas.instance", AttributeRef::String(instance)),
                    ("faas.max_memory", AttributeRef::Int(1 << 30)),
                ];
                attributes.extend(
                    [
                        "cloud.region",
                        "cloud.provider",
                        "cloud.platform",
                        "faas.runtime",
                    ]
                    .into_iter()
                    .zip(texts.map(AttributeRef::String)),
                );
                attributes
            })
            .collect();
        let mut rows = ResourceRows::default();
        let mut spans = SpanBuilder::default();
        for (i, resource) in resources.iter().enumerate() {
            // Each span in its own trace, all in hour 0.
            let mut trace = [0; 16];
            trace[..8].copy_from_slice(&(i as u64).to_be_bytes());
            let span = span_row("orders", trace, resource);
            let hour = rows.needs_row(span.resource_id, span.start_time).unwrap();
            rows.add_borrowed(span.resource_id, hour, resource);
            spans.append(&span);
        }
        let records = vec![
            (Table::Resources, rows.finish().unwrap()),
            (Table::Spans, spans.finish()),
        ];
        flush_records(&objects, 1, records, 1).await.unwrap();

        let config = AnalyzerConfig {
            memory_limit_bytes: 64 << 20,
            ..AnalyzerConfig::default()
        };
        let analyzer = Analyzer::open(dir.path(), config).await.unwrap();
        let trace = hex_of(&(1234u64.to_be_bytes(), [0u8; 8]));
        let batches = analyzer
            .context()
            .sql(&format!(
                "SELECT * FROM spans WHERE trace_id = \
                 arrow_cast(decode('{trace}', 'hex'), 'FixedSizeBinary(16)') ORDER BY start_time"
            ))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 1);
        let text = arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        assert!(text.contains("instance-01234"), "{text}");
    }

    /// `min` of a column beside `max` of an expression, without GROUP BY, over files of six
    /// hours: DataFusion 55's aggregate dynamic filter, built from the `min` alone, pruned the
    /// files a partition opened after another had seen the earliest start, so the maximum could
    /// come out of the first hour (apache/datafusion#24816). The dashboard's `all` window asks
    /// exactly this.
    #[tokio::test]
    async fn min_and_max_of_an_expression_read_every_file() {
        use faasobs_collector::model::{Invocation, Records};
        use faasobs_collector::store::{Store, StoreConfig};

        // Six hours, each merged into a file of its own when the store closes.
        let dir = tempfile::tempdir().unwrap();
        let hour = 3_600_000_000_000;
        let invocations = (0..6)
            .map(|i| Invocation {
                function_name: "orders".into(),
                request_id: format!("request-{i}"),
                start_time: i * hour,
                end_time: Some(i * hour + 1_000_000),
                ..Invocation::default()
            })
            .collect();
        let store = Store::open(StoreConfig::new(dir.path())).await.unwrap();
        let records = Records {
            invocations,
            ..Default::default()
        };
        store.handle().write(&records).await.unwrap();
        store.close().await.unwrap();
        // Two partitions, so that the aggregation is split in partial ones (a single one has
        // no dynamic filter), each reading its own files.
        let config = AnalyzerConfig {
            target_partitions: 2,
            ..AnalyzerConfig::default()
        };
        let analyzer = Analyzer::open(dir.path(), config).await.unwrap();
        let sql = "SELECT CAST(min(start_time) AS BIGINT) AS first, \
                   CAST(max(coalesce(end_time, start_time)) AS BIGINT) AS last FROM invocations";
        // Whether a file is pruned depends on which partition gets there first, so the plan is
        // checked too: its scans must carry no dynamic filter.
        let plan = analyzer.query(&format!("EXPLAIN {sql}")).await.unwrap();
        let plan = arrow::util::pretty::pretty_format_batches(&plan)
            .unwrap()
            .to_string();
        assert!(plan.contains("DataSourceExec"), "{plan}");
        assert!(!plan.contains("DynamicFilter"), "{plan}");
        let batches = analyzer.query(sql).await.unwrap();
        let column = |name: &str| {
            batches[0]
                .column_by_name(name)
                .unwrap()
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .unwrap()
                .value(0)
        };
        assert_eq!((column("first"), column("last")), (0, 5 * hour + 1_000_000));
    }

    fn hex_of((high, low): &([u8; 8], [u8; 8])) -> String {
        high.iter().chain(low).map(|b| format!("{b:02x}")).collect()
    }

    /// An empty data directory opens with empty tables that keep their columns, in every printed
    /// form, and says it holds nothing; one stored span is something, even outside the window.
    #[tokio::test]
    async fn an_empty_store_answers_with_its_columns_and_says_it_holds_nothing() {
        use crate::query::{OutputFormat, render};
        use faasobs_collector::model::SpanBuilder;
        use faasobs_collector::store::flush::flush_records;
        use faasobs_collector::store::local_objects;

        let dir = tempfile::tempdir().unwrap();
        let analyzer = Analyzer::open(dir.path(), AnalyzerConfig::default())
            .await
            .unwrap();
        assert!(analyzer.holds_nothing());
        let sql = "SELECT function_name, count(*) AS n FROM invocations GROUP BY 1";
        let batches = analyzer.query(sql).await.unwrap();
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].num_rows(), 0);
        let table = render(&batches, OutputFormat::Table).unwrap();
        assert!(table.contains("| function_name | n |"), "{table}");
        assert_eq!(
            render(&batches, OutputFormat::Csv).unwrap(),
            "function_name,n\n"
        );
        assert_eq!(render(&batches, OutputFormat::Json).unwrap(), "[]");

        let objects = local_objects(dir.path()).unwrap();
        let mut spans = SpanBuilder::default();
        spans.append(&span_row("orders", [1; 16], &[]));
        flush_records(&objects, 1, vec![(Table::Spans, spans.finish())], 1)
            .await
            .unwrap();
        let after_the_span = AnalyzerConfig {
            window: Some(TimeWindow {
                since: Some(1_000_000_000_000_000_000),
                until: None,
            }),
            ..AnalyzerConfig::default()
        };
        let analyzer = Analyzer::open(dir.path(), after_the_span).await.unwrap();
        assert!(!analyzer.holds_nothing());
        let spans = analyzer.query("SELECT * FROM spans").await.unwrap();
        assert_eq!(spans.iter().map(RecordBatch::num_rows).sum::<usize>(), 0);
    }

    /// Puts `rows`, of a schema an earlier version wrote, as the first file of `table`'s hour 0.
    async fn put_file_of_an_earlier_version(
        objects: &faasobs_collector::store::Objects,
        table: Table,
        rows: &RecordBatch,
    ) {
        use datafusion::parquet::arrow::ArrowWriter;
        use faasobs_collector::store::layout::SegmentRange;

        let mut bytes = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut bytes, rows.schema(), None).unwrap();
        writer.write(rows).unwrap();
        writer.close().unwrap();
        let partition = Partition { table, hour: 0 };
        objects
            .put_durably(&partition.file(SegmentRange::single(1)), bytes.into())
            .await
            .unwrap();
    }

    /// A store upgraded from schema version 1 holds spans with their resource's attributes on
    /// every row and no `resource_id`. Its files are read as they are (the `spans` view shows the
    /// attributes they were stored with), beside newer rows whose resource is joined from
    /// `resources`, and compaction leaves them alone rather than mix the two schemas.
    #[tokio::test]
    async fn spans_stored_with_schema_version_1_keep_their_resource_attributes() {
        use arrow::array::AsArray;
        use faasobs_collector::model::attributes::AttributesBuilder;
        use faasobs_collector::model::resource::resource_id_of_refs;
        use faasobs_collector::model::{AttributeRef, ResourceRows, SpanBuilder};
        use faasobs_collector::store::compaction::{KnownHourMerged, ReplacedFiles, compact};
        use faasobs_collector::store::flush::flush_records;
        use faasobs_collector::store::layout::list_table;
        use faasobs_collector::store::{CompactionLevel, local_objects};

        let dir = tempfile::tempdir().unwrap();
        let objects = local_objects(dir.path()).unwrap();
        let old_resource = [("faas.name", AttributeRef::String("before-upgrade"))];
        let new_resource = [("faas.name", AttributeRef::String("after-upgrade"))];
        let new_id = resource_id_of_refs(&new_resource);
        let spans = |name: &'static str, resource: &[(&'static str, AttributeRef<'static>)]| {
            let mut builder = SpanBuilder::default();
            for k in 0..3u8 {
                builder.append(&span_row(name, [k; 16], resource));
            }
            builder.finish()
        };
        // A version 1 file: `resource_attributes` where `resource_id` is now.
        let current = spans("old", &old_resource);
        let mut attributes = AttributesBuilder::default();
        for _ in 0..current.num_rows() {
            attributes.append_borrowed(&old_resource);
        }
        let position = current.schema().index_of("resource_id").unwrap();
        let mut fields: Vec<_> = current.schema().fields().iter().cloned().collect();
        let mut columns = current.columns().to_vec();
        fields[position] = Arc::new(Field::new(
            "resource_attributes",
            faasobs_collector::model::attributes::data_type(),
            false,
        ));
        columns[position] = attributes.finish();
        let old = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        put_file_of_an_earlier_version(&objects, Table::Spans, &old).await;
        // Rows of this version, flushed from a segment as the collector does.
        let mut resources = ResourceRows::default();
        let hour = resources.needs_row(new_id, 0).unwrap();
        resources.add_borrowed(new_id, hour, &new_resource);
        let records = vec![
            (Table::Resources, resources.finish().unwrap()),
            (Table::Spans, spans("new", &new_resource)),
        ];
        flush_records(&objects, 2, records, 1).await.unwrap();

        compact(
            &objects,
            |_, _| Some(CompactionLevel::Runs),
            &mut KnownHourMerged::default(),
            1,
            ReplacedFiles::DeletedAtOnce,
        )
        .await
        .unwrap();
        let files = list_table(objects.store.as_ref(), Table::Spans)
            .await
            .unwrap();
        assert_eq!(files.live.len(), 2, "both files are left as they are");

        let analyzer = Analyzer::open(dir.path(), AnalyzerConfig::default())
            .await
            .unwrap();
        let batches = analyzer
            .context()
            .sql(
                "SELECT name, resource_attributes['faas.name']['string'] AS resource, \
                 resource_id IS NULL AS legacy, count(*) AS n FROM spans GROUP BY 1, 2, 3 \
                 ORDER BY 1",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        let text = |name: &str| {
            let column =
                arrow::compute::cast(batch.column_by_name(name).unwrap(), &DataType::Utf8).unwrap();
            column
                .as_string::<i32>()
                .iter()
                .map(|v| v.unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(text("name"), ["new", "old"]);
        assert_eq!(text("resource"), ["after-upgrade", "before-upgrade"]);
        assert_eq!(text("legacy"), ["false", "true"]);
        assert_eq!(text("n"), ["3", "3"]);
    }

    /// A store upgraded from schema version 2: its invocation files lack `cold_start_inferred`,
    /// which queries read as null, and their fragments merge with the current version's by the
    /// rules of evidence (theirs all evidence).
    #[tokio::test]
    async fn invocations_stored_with_schema_version_2_read_cold_start_inferred_as_null() {
        use faasobs_collector::model::invocation::{Invocation, Source, Sources, to_batch};
        use faasobs_collector::store::layout::SegmentRange;
        use faasobs_collector::store::local_objects;

        let dir = tempfile::tempdir().unwrap();
        let objects = local_objects(dir.path()).unwrap();
        let fragment = |request: &str, source: Source, cold: bool, inferred: bool| Invocation {
            function_name: "resize".into(),
            request_id: request.into(),
            start_time: 1_000,
            cold_start: cold,
            cold_start_inferred: inferred,
            sources: Sources::of(source),
            ..Default::default()
        };
        // Version 2: a warm report of r-1 and a cold one of r-2.
        let current = to_batch(&[
            fragment("r-1", Source::PlatformReport, false, false),
            fragment("r-2", Source::PlatformReport, true, false),
        ]);
        let kept: Vec<usize> = (0..current.num_columns() - 1).collect();
        let old = current.project(&kept).unwrap();
        assert!(old.column_by_name("cold_start_inferred").is_none());
        put_file_of_an_earlier_version(&objects, Table::Invocations, &old).await;
        let partition = Partition {
            table: Table::Invocations,
            hour: 0,
        };
        // This version: spans of r-1 (inferred cold), r-2 and r-3 (inferred warm).
        let spans = to_batch(&[
            fragment("r-1", Source::OtlpSpan, true, true),
            fragment("r-2", Source::OtlpSpan, false, true),
            fragment("r-3", Source::OtlpSpan, false, true),
        ]);
        objects
            .put_durably(
                &partition.file(SegmentRange::single(2)),
                faasobs_collector::store::writer::encode_sorted(Table::Invocations, &[spans])
                    .unwrap(),
            )
            .await
            .unwrap();

        let analyzer = Analyzer::open(dir.path(), AnalyzerConfig::default())
            .await
            .unwrap();
        let rows = |sql: &str| {
            let ctx = analyzer.context();
            let sql = sql.to_string();
            async move {
                let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
                let text = arrow::util::pretty::pretty_format_batches(&batches).unwrap();
                text.to_string()
            }
        };
        let stored = rows(
            "SELECT request_id, cold_start, cold_start_inferred FROM invocation_fragments \
             ORDER BY request_id, cold_start_inferred NULLS FIRST",
        )
        .await;
        let merged = rows(
            "SELECT request_id, cold_start, cold_start_inferred FROM invocations \
             ORDER BY request_id",
        )
        .await;
        assert_eq!(
            stored.lines().skip(3).take(5).collect::<Vec<_>>(),
            [
                "| r-1        | false      |                     |",
                "| r-1        | true       | true                |",
                "| r-2        | true       |                     |",
                "| r-2        | false      | true                |",
                "| r-3        | false      | true                |",
            ],
            "{stored}"
        );
        assert_eq!(
            merged.lines().skip(3).take(3).collect::<Vec<_>>(),
            [
                "| r-1        | false      | false               |",
                "| r-2        | true       | false               |",
                "| r-3        | false      | true                |",
            ],
            "{merged}"
        );
    }

    #[test]
    fn a_window_keeps_its_hours_and_one_hour_either_side() {
        const HOUR: i64 = 3_600_000_000_000;
        let hour = |h: i64| Partition {
            table: Table::Invocations,
            hour: h,
        };
        let window = TimeWindow {
            since: Some(10 * HOUR + 5),
            until: Some(12 * HOUR),
        };
        let kept: Vec<i64> = (0..20).filter(|h| window.keeps(&hour(*h))).collect();
        assert_eq!(kept, vec![9, 10, 11, 12]);
        assert!((0..20).all(|h| TimeWindow::default().keeps(&hour(h))));
    }

    /// The view faasobs runs and the portable one answer the same, row for row, over fragments
    /// with every mix of sources, conflicting values and missing ones.
    #[tokio::test]
    async fn the_merging_view_answers_what_the_portable_view_answers() {
        use faasobs_collector::model::invocation::{
            Invocation, InvocationStatus, Source, Sources, to_batch,
        };

        let mut next = crate::test_numbers(0x2545_f491_4f6c_dd1d_u64);
        let sources = [
            Source::OtlpSpan,
            Source::PlatformReport,
            Source::FunctionLog,
            Source::CallerSpan,
        ];
        let statuses = [
            InvocationStatus::Success,
            InvocationStatus::Error,
            InvocationStatus::Timeout,
        ];
        let mut fragments = Vec::new();
        for request in 0..3000 {
            for _ in 0..=next(3) {
                let some = |v: u64, n: &mut dyn FnMut(u64) -> u64| (n(4) > 0).then_some(v);
                let source = sources[next(4) as usize];
                let start = 1_000_000 + next(1000) as i64;
                fragments.push(Invocation {
                    function_name: format!("fn-{}", next(3)),
                    function_version: some(next(3), &mut next).map(|v| v.to_string()),
                    region: some(next(2), &mut next).map(|r| format!("region-{r}")),
                    runtime: some(next(2), &mut next).map(|r| format!("runtime-{r}")),
                    architecture: some(next(2), &mut next)
                        .map(|a| ["x86_64", "arm64"][a as usize].into()),
                    memory_size_mb: some(next(4), &mut next).map(|m| 128 << m),
                    request_id: format!("req-{request}"),
                    trace_id: some(next(5), &mut next).map(|t| [t as u8; 16]),
                    instance_id: some(next(9), &mut next).map(|i| format!("i-{i}")),
                    trigger: some(next(2), &mut next).map(|t| ["http", "sqs"][t as usize].into()),
                    start_time: start,
                    end_time: some(next(500), &mut next).map(|d| start + d as i64),
                    duration_ms: some(next(1000), &mut next).map(|d| d as f64 / 8.0),
                    billed_duration_ms: some(next(1000), &mut next).map(|d| d as i64),
                    init_duration_ms: some(next(300), &mut next).map(|d| d as f64 / 4.0),
                    cold_start: next(5) == 0,
                    cold_start_inferred: next(3) == 0,
                    max_memory_used_mb: some(next(512), &mut next).map(|m| m as i32),
                    status: statuses[next(3) as usize],
                    error_message: some(next(7), &mut next).map(|e| format!("failed {e}")),
                    sources: Sources::of(source),
                    ..Default::default()
                });
            }
        }
        let ctx = SessionContext::new();
        register_merge_aggregates(&ctx);
        let table = MemTable::try_new(
            Table::Invocations.schema(),
            vec![fragments.chunks(700).map(to_batch).collect()],
        )
        .unwrap();
        ctx.register_table(FRAGMENTS_TABLE, Arc::new(table))
            .unwrap();
        let mut answers = Vec::new();
        for dialect in [Dialect::Faasobs, Dialect::Portable] {
            let view = crate::invocations_view::merging_view(FRAGMENTS_TABLE, dialect);
            let batches = ctx
                .sql(&view)
                .await
                .unwrap()
                .sort(vec![
                    datafusion::prelude::col("request_id").sort(true, false),
                ])
                .unwrap()
                .collect()
                .await
                .unwrap();
            answers.push(
                arrow::util::pretty::pretty_format_batches(&batches)
                    .unwrap()
                    .to_string(),
            );
        }
        assert_eq!(answers[0], answers[1]);
        assert_eq!(answers[0].lines().count(), 3000 + 4);

        // The cold starts as the collector's merge (the hour merge's) decides them: evidence
        // beats an inference.
        let sql = format!(
            "SELECT request_id, cold_start, cold_start_inferred FROM ({}) ORDER BY request_id",
            crate::invocations_view::merging_view(FRAGMENTS_TABLE, Dialect::Faasobs)
        );
        let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        let inferred_cold: std::collections::HashSet<String> = fragments
            .iter()
            .filter(|f| f.cold_start && f.cold_start_inferred)
            .map(|f| f.request_id.clone())
            .collect();
        let mut merged = faasobs_collector::model::invocation::merge_fragments(fragments);
        merged.sort_by(|a, b| a.request_id.cmp(&b.request_id));
        let by_collector: Vec<(String, bool, bool)> = merged
            .into_iter()
            .map(|i| (i.request_id, i.cold_start, i.cold_start_inferred))
            .collect();
        let mut by_view = Vec::new();
        for batch in &batches {
            let ids = arrow::compute::cast(batch.column(0), &DataType::Utf8).unwrap();
            let (ids, cold, inferred) = (
                ids.as_string::<i32>(),
                batch.column(1).as_boolean(),
                batch.column(2).as_boolean(),
            );
            for i in 0..batch.num_rows() {
                by_view.push((ids.value(i).to_string(), cold.value(i), inferred.value(i)));
            }
        }
        assert_eq!(by_view, by_collector);
        assert!(
            by_collector
                .iter()
                .any(|(id, cold, _)| inferred_cold.contains(id) && !cold),
            "some inferred cold start was overridden by evidence"
        );
    }

    #[tokio::test]
    async fn a_table_without_planning_statistics_plans_without_reading_them() {
        use arrow::array::Int64Array;
        use datafusion::dataframe::DataFrameWriteOptions;

        let dir = tempfile::tempdir().unwrap();
        let ctx =
            SessionContext::new_with_config(SessionConfig::new().with_collect_statistics(true));
        let batch =
            RecordBatch::try_from_iter([("n", Arc::new(Int64Array::from(vec![1, 2, 3])) as _)])
                .unwrap();
        ctx.read_batch(batch)
            .unwrap()
            .write_parquet(
                dir.path().to_str().unwrap(),
                DataFrameWriteOptions::new(),
                None,
            )
            .await
            .unwrap();
        let url = ListingTableUrl::parse(format!("file://{}/", dir.path().display())).unwrap();
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .infer_schema(&ctx.state())
            .await
            .unwrap();
        let listing: Arc<dyn TableProvider> = Arc::new(ListingTable::try_new(config).unwrap());
        ctx.sql("SET datafusion.explain.show_statistics = true")
            .await
            .unwrap();
        let plan_text = |provider: Arc<dyn TableProvider>| {
            let ctx = ctx.clone();
            async move {
                ctx.register_table("t", provider).unwrap();
                let plan = ctx.sql("EXPLAIN SELECT * FROM t").await.unwrap();
                let text = crate::query::render(
                    &plan.collect().await.unwrap(),
                    crate::query::OutputFormat::Csv,
                )
                .unwrap();
                ctx.deregister_table("t").unwrap();
                text
            }
        };
        let planned = plan_text(listing.clone()).await;
        assert!(planned.contains("Rows=Exact(3)"), "{planned}");
        let planned = plan_text(Arc::new(WithoutPlanningStatistics(listing))).await;
        assert!(planned.contains("Rows=Absent"), "{planned}");
    }

    /// A flush between reading the WAL and listing the files, or while the files are listed,
    /// leaves each row of the segment counted once: from the WAL when the listing missed the
    /// file of its table and hour, from the file when it found it.
    #[tokio::test]
    async fn rows_flushed_while_the_files_are_listed_are_counted_once() {
        use faasobs_collector::model::invocation::Invocation;
        use faasobs_collector::model::{LogRecord, NANOS_PER_HOUR, Records};
        use faasobs_collector::store::flush::{flush_records, flush_segment};
        use faasobs_collector::store::wal_frames;
        use faasobs_collector::wal::{SegmentWriter, remove_segment, segment_file_name};

        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let objects = local_objects(root).unwrap();
        let wal = root.join(WAL_DIR);
        std::fs::create_dir_all(&wal).unwrap();
        // Five log lines in each of two hours, and an invocation: three files when flushed.
        let records = Records {
            logs: (0..10)
                .map(|i| LogRecord {
                    time: if i < 5 { i } else { NANOS_PER_HOUR + i },
                    body: Some(format!("line {i}")),
                    function_name: Some("fn".into()),
                    ..Default::default()
                })
                .collect(),
            invocations: vec![Invocation {
                function_name: "fn".into(),
                request_id: "req-1".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let acknowledged = |id: u64| {
            let mut segment = SegmentWriter::create(&wal, id).unwrap();
            segment.append(&wal_frames(&records).unwrap()).unwrap();
            segment.sync().unwrap();
        };
        // The flusher's steps for segment `id`: its files, then the segment deleted.
        let flush = async |id: u64| {
            flush_segment(&objects, id, &wal.join(segment_file_name(id)), 1)
                .await
                .unwrap();
            remove_segment(&wal, id).unwrap();
        };
        let list = async || {
            let mut listings = Vec::new();
            for table in Table::ALL {
                listings.push((table, list_table(objects.store.as_ref(), table).await?));
            }
            Ok(listings)
        };
        // The hours of the listed files of `table`, and the hours of its rows from the WAL.
        type View = (Vec<(Table, Listing)>, HashMap<Table, Vec<RecordBatch>>);
        let hours_in = |(listings, rows): &View, table: Table| {
            let files: Vec<i64> = listings
                .iter()
                .filter(|(listed, _)| *listed == table)
                .flat_map(|(_, listing)| listing.live.iter().map(|f| f.partition.hour))
                .collect();
            let mut wal_rows = Vec::new();
            for batch in rows.get(&table).into_iter().flatten() {
                let times = batch.column_by_name(table.time_column()).unwrap();
                let times = times.as_primitive::<TimestampNanosecondType>();
                wal_rows.extend(times.values().iter().map(|ns| ns / NANOS_PER_HOUR));
            }
            (files, wal_rows)
        };
        let five = |hour: i64| vec![hour; 5];

        // Flushed just after the listing: not listed, so from the WAL.
        acknowledged(1);
        let view = files_and_unflushed_rows(Some(root), async || {
            let listings = list().await;
            flush(1).await;
            listings
        })
        .await
        .unwrap();
        assert_eq!(
            hours_in(&view, Table::Logs),
            (vec![], [five(0), five(1)].concat())
        );
        assert_eq!(hours_in(&view, Table::Invocations), (vec![], vec![0]));
        // Flushed just before the listing: listed, so not from the WAL.
        acknowledged(2);
        let view = files_and_unflushed_rows(Some(root), async || {
            flush(2).await;
            list().await
        })
        .await
        .unwrap();
        // Segment 1's files and segment 2's, by hour.
        assert_eq!(hours_in(&view, Table::Logs), (vec![0, 0, 1, 1], vec![]));
        assert_eq!(hours_in(&view, Table::Invocations), (vec![0, 0], vec![]));
        // Listed while the flusher had written one of its files, the first hour's logs: those
        // rows from that file, the rest from the WAL.
        acknowledged(3);
        let view = files_and_unflushed_rows(Some(root), async || {
            let first_hour = records
                .to_batches()
                .into_iter()
                .filter_map(|(table, batch)| {
                    let keep: BooleanArray = (0..batch.num_rows())
                        .map(|row| Some(table == Table::Logs && row < 5))
                        .collect();
                    (table == Table::Logs)
                        .then(|| (table, filter_record_batch(&batch, &keep).unwrap()))
                });
            flush_records(&objects, 3, first_hour.collect(), 1)
                .await
                .unwrap();
            list().await
        })
        .await
        .unwrap();
        let (files, wal_rows) = hours_in(&view, Table::Logs);
        assert_eq!(wal_rows, five(1));
        assert_eq!(files.iter().filter(|hour| **hour == 0).count(), 3);
        assert_eq!(hours_in(&view, Table::Invocations), (vec![0, 0], vec![0]));
    }

    /// A file listed when the analyzer opened that is gone (a closing store deleted it) or is
    /// another file (rewritten in place) when a query reads it fails that query with
    /// `ListingOutdated`: read as nothing, a count came out short without a word. An analyzer
    /// opened afresh answers for the files there are.
    #[tokio::test]
    async fn a_query_over_files_changed_since_the_listing_fails_as_outdated() {
        use crate::listed_objects::is_listing_outdated;
        use faasobs_collector::model::{LogRecord, Records};
        use faasobs_collector::store::flush::flush_records;

        let dir = tempfile::tempdir().unwrap();
        let objects = local_objects(dir.path()).unwrap();
        let lines = |n: i64| Records {
            logs: (0..n)
                .map(|i| LogRecord {
                    time: i,
                    body: Some(format!("line {i}")),
                    function_name: Some("fn".into()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let flush = async |segment: u64, n: i64| {
            flush_records(&objects, segment, lines(n).to_batches(), 1)
                .await
                .unwrap();
        };
        let open = async || {
            Analyzer::open(dir.path(), AnalyzerConfig::default())
                .await
                .unwrap()
        };
        // One that reads the rows, not only the footers' row counts.
        let count = "SELECT count(*) AS n FROM logs WHERE body LIKE 'line%'";
        let counted = async |analyzer: &Analyzer| {
            let rows = analyzer.query(count).await.unwrap();
            crate::query::render(&rows, crate::query::OutputFormat::Csv).unwrap()
        };
        flush(1, 3).await;
        flush(2, 4).await;
        assert_eq!(counted(&open().await).await, "n\n7\n");

        let listed_before = open().await;
        let first = Partition::of(Table::Logs, 0)
            .file(faasobs_collector::store::layout::SegmentRange::single(1));
        objects.delete_all([&first]).await.unwrap();
        let error = listed_before.query(count).await.unwrap_err();
        assert!(is_listing_outdated(&error), "{error}");
        assert!(
            error
                .to_string()
                .contains("changed after the store was listed"),
            "{error}"
        );
        assert_eq!(counted(&open().await).await, "n\n4\n");

        let listed_before = open().await;
        flush(2, 6).await;
        let error = listed_before.query(count).await.unwrap_err();
        assert!(is_listing_outdated(&error), "{error}");
        assert_eq!(counted(&open().await).await, "n\n6\n");
    }
}
