//! Running user SQL, read-only, and printing the result.
//!
//! DDL (`CREATE`, including `CREATE EXTERNAL TABLE` over arbitrary paths), DML (`INSERT`, `COPY`)
//! and statements (`SET`, transactions) are refused before planning: SQL from users cannot create,
//! copy or write files.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::context::SQLOptions;
use futures::StreamExt;

use crate::session::{Analyzer, AnalyzerError};

/// How query results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
    Ndjson,
}

/// A text column of a query's result as `Utf8`, whichever text type the query produced: the
/// tables' text columns are `Utf8View` ([`crate::session::query_schema`]), literals and many
/// functions' results `Utf8`. Already `Utf8`, the column is shared, not copied.
pub fn text_column(column: &ArrayRef) -> Result<StringArray, AnalyzerError> {
    let text = arrow::compute::cast(column, &DataType::Utf8)?;
    Ok(text.as_string::<i32>().clone())
}

/// What the SQL parser said of a statement it could not read, if that is why `error` came.
fn syntax_error(error: &datafusion::error::DataFusionError) -> Option<String> {
    use datafusion::sql::sqlparser::parser::ParserError;
    match error.find_root() {
        datafusion::error::DataFusionError::SQL(parser, _) => Some(match parser.as_ref() {
            ParserError::ParserError(m) | ParserError::TokenizerError(m) => m.clone(),
            other => other.to_string(),
        }),
        _ => None,
    }
}

/// A SQL text split into statements at the semicolons that end them; a `;` inside a string, a
/// quoted name or a comment ends nothing.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Statements {
    /// Each ended statement. Statements of nothing but whitespace and comments are left out.
    pub ended: Vec<Statement>,
    /// What follows the last `;`: the start of a statement not ended yet; empty when only
    /// whitespace and comments follow it. All of the text when a string or comment in it is not
    /// closed yet.
    pub rest: String,
}

/// One statement of a SQL text.
#[derive(Debug, PartialEq, Eq)]
pub struct Statement {
    /// The line of the text its first word is on (past any comment before it), from 1.
    pub line: usize,
    /// Its text, trimmed, without the `;` that ended it.
    pub text: String,
}

/// Splits `text` into its statements as DataFusion's SQL parser reads them (its default,
/// generic dialect).
pub fn split_statements(text: &str) -> Statements {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, text).tokenize_with_location() else {
        // An unclosed string or comment: no statement in the text has ended.
        return Statements {
            ended: Vec::new(),
            rest: text.to_string(),
        };
    };
    // Where each `;` is, as the tokenizer counts (1-based lines, and characters within them),
    // and the line of the first word of the statement it ends, if it says anything.
    let mut ends = Vec::new();
    let mut first_word_line = None;
    for token in &tokens {
        match token.token {
            Token::SemiColon => {
                let at = token.span.start;
                ends.push(((at.line, at.column), first_word_line.take()));
            }
            Token::Whitespace(_) | Token::EOF => {}
            _ => {
                first_word_line.get_or_insert(token.span.start.line as usize);
            }
        }
    }
    let mut statements = Statements::default();
    let mut ends = ends.into_iter().peekable();
    let (mut line, mut column, mut start) = (1, 1, 0);
    for (offset, c) in text.char_indices() {
        if let Some(&(at, statement_line)) = ends.peek()
            && at == (line, column)
        {
            if let Some(line) = statement_line {
                statements.ended.push(Statement {
                    line,
                    text: text[start..offset].trim().to_string(),
                });
            }
            start = offset + c.len_utf8();
            ends.next();
        }
        if c == '\n' {
            (line, column) = (line + 1, 1);
        } else {
            column += 1;
        }
    }
    // Words after the last `;` begin a statement; comments alone do not.
    if first_word_line.is_some() {
        statements.rest = text[start..].to_string();
    }
    statements
}

/// The one of `names` nearest to `name`, if one is near enough to be a likely typo of it
/// (Jaro-Winkler similarity of at least 0.8, as `strsim` measures it).
pub fn nearest_name<'a>(name: &str, names: &'a [String]) -> Option<&'a str> {
    names
        .iter()
        .map(|n| (strsim::jaro_winkler(name, n), n))
        .filter(|(similarity, _)| *similarity >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n.as_str())
}

impl Analyzer {
    /// Runs one read-only SQL statement and collects its result: at least one batch, an empty
    /// one with the result's columns when it has no rows, so that every printed form of an empty
    /// result still names its columns.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>, AnalyzerError> {
        Ok(self.query_with_schema(sql).await?.1)
    }

    /// Like [`Analyzer::query`], with the result's schema.
    pub async fn query_with_schema(
        &self,
        sql: &str,
    ) -> Result<(arrow::datatypes::SchemaRef, Vec<RecordBatch>), AnalyzerError> {
        let frame = self.read_only_frame(sql).await?;
        let schema = std::sync::Arc::new(frame.schema().as_arrow().clone());
        let mut batches = frame.collect().await?;
        if batches.is_empty() {
            batches.push(RecordBatch::new_empty(Arc::clone(&schema)));
        }
        Ok((schema, batches))
    }

    /// Like [`Analyzer::query`], a batch at a time, for results too large to hold whole.
    pub async fn query_stream(
        &self,
        sql: &str,
    ) -> Result<datafusion::execution::SendableRecordBatchStream, AnalyzerError> {
        Ok(self.read_only_frame(sql).await?.execute_stream().await?)
    }

    /// `sql` planned with DDL, DML and statements refused.
    async fn read_only_frame(
        &self,
        sql: &str,
    ) -> Result<datafusion::dataframe::DataFrame, AnalyzerError> {
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let frame = self
            .context()
            .sql_with_options(sql, options)
            .await
            .map_err(|e| match e {
                datafusion::error::DataFusionError::Plan(m) if m.contains("not supported") => {
                    AnalyzerError::NotReadOnly(m)
                }
                datafusion::error::DataFusionError::NotImplemented(ref m)
                    if m.contains("single SQL statement") =>
                {
                    let ended = split_statements(&format!("{sql}\n;")).ended.len();
                    AnalyzerError::SeveralStatements(ended)
                }
                // DataFusion's own text of a parse error repeats it, once in Rust's debug form.
                ref e if let Some(message) = syntax_error(e) => AnalyzerError::Syntax(message),
                // The planning error may come wrapped (in a diagnostic): read its text.
                other => match missing_table(&other.to_string()) {
                    Some(name) => AnalyzerError::UnknownTable(self.unknown_table_message(&name)),
                    None => AnalyzerError::DataFusion(other),
                },
            })?;
        Ok(frame)
    }

    /// Says that table `name` does not exist, suggests the nearest that does, and lists the
    /// tables and views a query may read (the default schema's).
    fn unknown_table_message(&self, name: &str) -> String {
        let state = self.context().state();
        let defaults = &state.config_options().catalog;
        let mut tables: Vec<String> = self
            .context()
            .catalog(&defaults.default_catalog)
            .and_then(|catalog| catalog.schema(&defaults.default_schema))
            .map(|schema| schema.table_names())
            .unwrap_or_default();
        tables.sort();
        let nearest = nearest_name(&name.to_lowercase(), &tables)
            .map(|t| format!(" (did you mean {t}?)"))
            .unwrap_or_default();
        format!(
            "no table named \"{name}\"{nearest}; the tables are {}",
            tables.join(", ")
        )
    }
}

/// The table a planning error says was not found (DataFusion: "table 'catalog.schema.name' not
/// found"), without its catalog and schema.
fn missing_table(message: &str) -> Option<String> {
    let rest = &message[message.find("table '")? + "table '".len()..];
    let (qualified, after) = rest.split_once('\'')?;
    after.starts_with(" not found").then(|| {
        qualified
            .rsplit('.')
            .next()
            .unwrap_or(qualified)
            .to_string()
    })
}

/// Writes a result stream as a Parquet file (ZSTD), readable by any Parquet reader, a batch at a
/// time, so that a result larger than memory can be written; returns its rows.
pub async fn write_parquet_stream(
    path: &std::path::Path,
    mut stream: SendableRecordBatchStream,
) -> Result<usize, AnalyzerError> {
    let mut writer = parquet_writer(path, stream.schema())?;
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        rows += batch.num_rows();
        writer
            .write(&batch)
            .map_err(|e| AnalyzerError::DataFusion(e.into()))?;
    }
    writer
        .close()
        .map_err(|e| AnalyzerError::DataFusion(e.into()))?;
    Ok(rows)
}

fn parquet_writer(
    path: &std::path::Path,
    schema: arrow::datatypes::SchemaRef,
) -> Result<datafusion::parquet::arrow::ArrowWriter<std::fs::File>, AnalyzerError> {
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::basic::{Compression, ZstdLevel};
    use datafusion::parquet::file::properties::WriterProperties;
    let file = std::fs::File::create(path).map_err(|source| AnalyzerError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    ArrowWriter::try_new(file, schema, Some(properties))
        .map_err(|e| AnalyzerError::DataFusion(e.into()))
}

/// The rows a result printed as a table shows unless told otherwise: a table is laid out from
/// all the rows it shows, held in memory, and more than this is more than anyone reads in a
/// terminal. The other formats write every row, a batch at a time.
pub const DEFAULT_TABLE_ROWS: usize = 1000;

/// The first rows of a result, to print as a table, and how many rows the result had in all.
#[derive(Debug)]
pub struct FirstRows {
    /// At least one batch (an empty one with the result's columns when it had no rows).
    pub batches: Vec<RecordBatch>,
    /// The rows of the whole result.
    pub total: usize,
}

impl FirstRows {
    /// The rows kept in [`FirstRows::batches`].
    pub fn shown(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// Reads `stream` to its end, keeping its first `limit` rows (every row with `None`) and counting
/// the rest, so that printing a large result as a table holds only what it shows.
pub async fn first_rows(
    mut stream: SendableRecordBatchStream,
    limit: Option<usize>,
) -> Result<FirstRows, AnalyzerError> {
    let schema = stream.schema();
    let (mut batches, mut total, mut kept) = (Vec::new(), 0, 0);
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        total += batch.num_rows();
        let room = limit.map_or(usize::MAX, |limit| limit - kept);
        if room > 0 && batch.num_rows() > 0 {
            let batch = batch.slice(0, batch.num_rows().min(room));
            kept += batch.num_rows();
            batches.push(batch);
        }
    }
    if batches.is_empty() {
        batches.push(RecordBatch::new_empty(schema));
    }
    Ok(FirstRows { batches, total })
}

/// Writes a result in CSV, JSON or NDJSON a batch at a time, as [`render`] writes it whole.
pub struct ResultWriter<W: std::io::Write> {
    inner: TextWriter<W>,
    rows: usize,
}

enum TextWriter<W: std::io::Write> {
    Csv(Box<arrow::csv::Writer<W>>),
    Json(arrow::json::ArrayWriter<W>),
    Ndjson(arrow::json::LineDelimitedWriter<W>),
}

impl<W: std::io::Write> ResultWriter<W> {
    /// A writer of `format` to `out`; `None` for [`OutputFormat::Table`], which is laid out from
    /// all its rows at once ([`first_rows`], [`render`]).
    pub fn new(format: OutputFormat, out: W) -> Option<Self> {
        let inner = match format {
            OutputFormat::Table => return None,
            OutputFormat::Csv => TextWriter::Csv(Box::new(
                arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(out),
            )),
            OutputFormat::Json => TextWriter::Json(arrow::json::ArrayWriter::new(out)),
            OutputFormat::Ndjson => TextWriter::Ndjson(arrow::json::LineDelimitedWriter::new(out)),
        };
        Some(ResultWriter { inner, rows: 0 })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), AnalyzerError> {
        self.rows += batch.num_rows();
        match &mut self.inner {
            TextWriter::Csv(writer) => {
                let batch = floats_as_plain_decimals(&attribute_values_as_text(batch)?)?;
                writer.write(&nested_columns_as_text(&batch)?)?;
            }
            TextWriter::Json(writer) => writer.write(batch)?,
            TextWriter::Ndjson(writer) => writer.write(batch)?,
        }
        Ok(())
    }

    /// Ends the output (a JSON array's closing bracket); returns the rows written and `out`.
    pub fn finish(self) -> Result<(usize, W), AnalyzerError> {
        let out = match self.inner {
            TextWriter::Csv(writer) => writer.into_inner(),
            TextWriter::Json(mut writer) => {
                writer.finish()?;
                writer.into_inner()
            }
            TextWriter::Ndjson(mut writer) => {
                writer.finish()?;
                writer.into_inner()
            }
        };
        Ok((self.rows, out))
    }

    /// Writes every batch of `stream` and ends the output: a result larger than memory is
    /// written without being held. A result of no rows still writes its columns (CSV's header).
    pub async fn write_stream(
        mut self,
        mut stream: SendableRecordBatchStream,
    ) -> Result<(usize, W), AnalyzerError> {
        let mut any = false;
        while let Some(batch) = stream.next().await {
            self.write(&batch?)?;
            any = true;
        }
        if !any {
            self.write(&RecordBatch::new_empty(stream.schema()))?;
        }
        self.finish()
    }
}

/// Renders batches in the chosen format.
pub fn render(batches: &[RecordBatch], format: OutputFormat) -> Result<String, AnalyzerError> {
    let Some(mut writer) = ResultWriter::new(format, Vec::new()) else {
        let batches = batches
            .iter()
            .map(|b| floats_as_plain_decimals(&attribute_values_as_text(b)?))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(arrow::util::pretty::pretty_format_batches(&batches)?.to_string());
    };
    for b in batches {
        writer.write(b)?;
    }
    let (_, out) = writer.finish()?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// `batch` with its floating-point columns as text in plain decimals: arrow writes small values
/// with an exponent, so a cost report showed a request's price as `2e-6` beside `0.000128`.
/// Values too small or too large to read plainly (below 1e-9 or from 1e16 on) keep the exponent.
fn floats_as_plain_decimals(batch: &RecordBatch) -> Result<RecordBatch, arrow::error::ArrowError> {
    let is_float = |t: &DataType| matches!(t, DataType::Float32 | DataType::Float64);
    if !batch.columns().iter().any(|c| is_float(c.data_type())) {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if !is_float(column.data_type()) {
            fields.push(field.clone());
            columns.push(column.clone());
            continue;
        }
        let values = arrow::compute::cast(column, &DataType::Float64)?;
        let text: StringArray = values
            .as_primitive::<arrow::datatypes::Float64Type>()
            .iter()
            .map(|value| value.map(plain_decimal))
            .collect();
        fields.push(Arc::new(Field::new(field.name(), DataType::Utf8, true)));
        columns.push(Arc::new(text));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// `value` as a plain decimal, shortest digits that read back the same (Rust's `Display`), whole
/// numbers with `.0` as arrow writes them, unless it is too small or too large to read that way.
fn plain_decimal(value: f64) -> String {
    if !value.is_finite() || !(value == 0.0 || (1e-9..1e16).contains(&value.abs())) {
        return format!("{value:e}");
    }
    let mut text = value.to_string();
    if !text.contains('.') {
        text.push_str(".0");
    }
    text
}

/// `batch` with every typed attribute value, however deep in its maps, lists and structs
/// (`attributes`, the events' attributes), as the text of the one leaf that holds
/// it: `{http.route: /orders}` rather than `{http.route: {string: /orders, int: , double: ,
/// bool: , bytes: , json: }}`. Tables and CSV show that (and the dashboard's SQL screen); JSON
/// leaves the unset leaves out itself.
pub fn attribute_values_as_text(
    batch: &RecordBatch,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    if !batch.columns().iter().any(|c| c.data_type().is_nested()) {
        return Ok(batch.clone());
    }
    let columns = batch
        .columns()
        .iter()
        .map(values_as_text)
        .collect::<Result<Vec<_>, _>>()?;
    let fields: Vec<_> = batch
        .schema()
        .fields()
        .iter()
        .zip(&columns)
        .map(|(field, column)| with_type_of(field, column))
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// `field` holding `column`'s type.
fn with_type_of(field: &Arc<Field>, column: &ArrayRef) -> Arc<Field> {
    Arc::new(
        field
            .as_ref()
            .clone()
            .with_data_type(column.data_type().clone()),
    )
}

/// [`attribute_values_as_text`] of one array.
fn values_as_text(array: &ArrayRef) -> Result<ArrayRef, arrow::error::ArrowError> {
    use arrow::array::{Array, ListArray, MapArray, StructArray};
    use faasobs_collector::model::attributes::is_attribute_value;
    Ok(match array.data_type() {
        DataType::Struct(fields) if is_attribute_value(fields) => {
            let value = array.as_struct();
            let options = FormatOptions::default();
            let leaves = value
                .columns()
                .iter()
                .map(|leaf| ArrayFormatter::try_new(leaf.as_ref(), &options))
                .collect::<Result<Vec<_>, _>>()?;
            let mut text = StringBuilder::with_capacity(value.len(), value.len() * 16);
            for row in 0..value.len() {
                let set = value.columns().iter().position(|leaf| leaf.is_valid(row));
                match set {
                    Some(leaf) if value.is_valid(row) => {
                        text.append_value(leaves[leaf].value(row).to_string())
                    }
                    _ => text.append_null(),
                }
            }
            Arc::new(text.finish())
        }
        DataType::Struct(_) => {
            let value = array.as_struct();
            let columns = value
                .columns()
                .iter()
                .map(values_as_text)
                .collect::<Result<Vec<_>, _>>()?;
            let fields = value
                .fields()
                .iter()
                .zip(&columns)
                .map(|(field, column)| with_type_of(field, column))
                .collect();
            Arc::new(StructArray::try_new(
                fields,
                columns,
                value.nulls().cloned(),
            )?)
        }
        DataType::List(field) => {
            let list = array.as_list::<i32>();
            let values = values_as_text(list.values())?;
            Arc::new(ListArray::try_new(
                with_type_of(field, &values),
                list.offsets().clone(),
                values,
                list.nulls().cloned(),
            )?)
        }
        DataType::Map(field, sorted) => {
            let map = array.as_map();
            let entries: ArrayRef = Arc::new(map.entries().clone());
            let entries = values_as_text(&entries)?;
            Arc::new(MapArray::try_new(
                with_type_of(field, &entries),
                map.offsets().clone(),
                entries.as_struct().clone(),
                map.nulls().cloned(),
                *sorted,
            )?)
        }
        _ => Arc::clone(array),
    })
}

/// `batch` with its nested columns (attributes, events, links: lists, maps, structs) written as
/// text the way the table format shows them, because CSV has no nested values; a query of whole
/// span or log rows failed with "not supported in CSV" before.
fn nested_columns_as_text(batch: &RecordBatch) -> Result<RecordBatch, arrow::error::ArrowError> {
    if !batch.columns().iter().any(|c| c.data_type().is_nested()) {
        return Ok(batch.clone());
    }
    let options = FormatOptions::default();
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if !column.data_type().is_nested() {
            fields.push(field.clone());
            columns.push(column.clone());
            continue;
        }
        let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
        let mut text = StringBuilder::with_capacity(column.len(), column.len() * 16);
        for row in 0..column.len() {
            if column.is_null(row) {
                text.append_null();
            } else {
                text.append_value(formatter.value(row).to_string());
            }
        }
        fields.push(Arc::new(Field::new(field.name(), DataType::Utf8, true)));
        columns.push(Arc::new(text.finish()));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, MapBuilder, StringBuilder};

    /// An analyzer over an empty data directory (held by the returned guard).
    async fn empty_analyzer() -> (tempfile::TempDir, Analyzer) {
        let dir = tempfile::tempdir().unwrap();
        let analyzer = Analyzer::open(dir.path(), Default::default())
            .await
            .unwrap();
        (dir, analyzer)
    }

    #[tokio::test]
    async fn a_mistyped_table_is_named_with_the_nearest_and_the_tables_there_are() {
        let (_dir, analyzer) = empty_analyzer().await;
        let error = |result: Result<Vec<RecordBatch>, AnalyzerError>| match result {
            Err(AnalyzerError::UnknownTable(message)) => message,
            other => panic!("{other:?}"),
        };
        let message = error(analyzer.query("SELECT count(*) FROM invocation").await);
        assert!(
            message.starts_with(
                "no table named \"invocation\" (did you mean invocations?); the tables are "
            ),
            "{message}"
        );
        for table in [
            "invocations",
            "spans",
            "logs",
            "resources",
            "invocation_costs",
        ] {
            assert!(message.contains(table), "{message}");
        }
        // Joined, and unlike any table: no guess.
        let message = error(
            analyzer
                .query("SELECT * FROM spans JOIN quux ON true")
                .await,
        );
        assert!(
            message.starts_with("no table named \"quux\"; the tables are "),
            "{message}"
        );
        // Other planning errors are left as DataFusion words them.
        assert!(matches!(
            analyzer.query("SELECT nope FROM invocations").await,
            Err(AnalyzerError::DataFusion(_))
        ));
    }

    /// A statement the parser cannot read is said once, in the parser's words.
    #[tokio::test]
    async fn a_syntax_error_says_what_the_parser_expected_once() {
        let (_dir, analyzer) = empty_analyzer().await;
        for (sql, expected) in [
            (
                "SELEC 1",
                "SQL syntax error: Expected: an SQL statement, found: SELEC at Line: 1, Column: 1",
            ),
            (
                "SELECT 'abc",
                "SQL syntax error: Unterminated string literal at Line: 1, Column: 8",
            ),
        ] {
            match analyzer.query(sql).await {
                Err(e @ AnalyzerError::Syntax(_)) => {
                    assert_eq!(e.to_string(), expected);
                    assert!(std::error::Error::source(&e).is_none());
                }
                other => panic!("{sql}: {other:?}"),
            }
        }
    }

    /// Statements end at semicolons outside strings, quoted names and comments; what follows
    /// the last one is kept to be continued.
    #[test]
    fn statements_end_at_semicolons_outside_strings_names_and_comments() {
        let split = split_statements(
            "SELECT 'a;b', \"c;\" FROM t; -- one; two\nSELECT 2 /* ; */;\n;  ;\nSELECT ",
        );
        let ended = |split: &Statements| -> Vec<(usize, String)> {
            split
                .ended
                .iter()
                .map(|s| (s.line, s.text.clone()))
                .collect()
        };
        assert_eq!(
            ended(&split),
            [
                (1, "SELECT 'a;b', \"c;\" FROM t".to_string()),
                (2, "-- one; two\nSELECT 2 /* ; */".to_string())
            ]
        );
        assert_eq!(split.rest, "\nSELECT ");
        // Several lines, and characters of more than one byte before a `;`.
        let split = split_statements("SELECT 'é'\n  , 'ü';SELECT 1;\n\n\n  SELECT 3;");
        assert_eq!(
            ended(&split),
            [
                (1, "SELECT 'é'\n  , 'ü'".to_string()),
                (2, "SELECT 1".to_string()),
                (5, "SELECT 3".to_string())
            ]
        );
        assert_eq!(split.rest, "");
        // An unclosed string: nothing has ended yet.
        let split = split_statements("SELECT 1; SELECT 'a;");
        assert_eq!(split.ended, []);
        assert_eq!(split.rest, "SELECT 1; SELECT 'a;");
        // Only a comment after the last statement.
        let split = split_statements("SELECT 1; -- done");
        assert_eq!(ended(&split), [(1, "SELECT 1".to_string())]);
        assert_eq!(split.rest, "");
    }

    /// `query` runs one statement; more are refused with how many there are and where several
    /// can run.
    #[tokio::test]
    async fn several_statements_are_refused_with_their_count() {
        let (_dir, analyzer) = empty_analyzer().await;
        match analyzer.query("SELECT 1; SELECT 2; -- and a comment").await {
            Err(e @ AnalyzerError::SeveralStatements(2)) => {
                assert!(e.to_string().contains("`faasobs sql` runs several"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(analyzer.query("SELECT 1;").await.unwrap()[0].num_rows(), 1);
    }

    #[test]
    fn floats_print_as_plain_decimals_unless_too_small_or_large() {
        let values = vec![
            Some(2e-6),
            Some(0.000128),
            Some(-1.5),
            Some(0.0),
            None,
            Some(1e-12),
            Some(2.5e20),
            Some(42.0),
        ];
        let batch = RecordBatch::try_from_iter([
            (
                "usd",
                Arc::new(arrow::array::Float64Array::from(values)) as ArrayRef,
            ),
            (
                "n",
                Arc::new(Int64Array::from_iter_values(0..8)) as ArrayRef,
            ),
        ])
        .unwrap();
        let csv = render(std::slice::from_ref(&batch), OutputFormat::Csv).unwrap();
        assert_eq!(
            csv,
            "usd,n\n0.000002,0\n0.000128,1\n-1.5,2\n0.0,3\n,4\n1e-12,5\n2.5e20,6\n42.0,7\n"
        );
        let table = render(&[batch], OutputFormat::Table).unwrap();
        assert!(table.contains("| 0.000002 |"), "{table}");
        assert!(!table.contains("2e-6"), "{table}");
        // JSON keeps numbers as numbers.
        let json = render(
            &[RecordBatch::try_from_iter([(
                "usd",
                Arc::new(arrow::array::Float64Array::from(vec![2e-6])) as ArrayRef,
            )])
            .unwrap()],
            OutputFormat::Json,
        )
        .unwrap();
        assert_eq!(json, r#"[{"usd":2.0e-6}]"#);
    }

    #[test]
    fn csv_writes_nested_columns_as_text() {
        let mut attributes = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        attributes.keys().append_value("http.route");
        attributes.values().append_value("/orders");
        attributes.append(true).unwrap();
        attributes.append(false).unwrap();
        let batch = RecordBatch::try_from_iter([
            ("n", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
            ("attributes", Arc::new(attributes.finish()) as ArrayRef),
        ])
        .unwrap();
        let text = render(&[batch], OutputFormat::Csv).unwrap();
        assert_eq!(text, "n,attributes\n1,{http.route: /orders}\n2,\n");
    }
}
