//! Where each function runs, for its invocations that do not say it, and with how much
//! ephemeral storage, which nothing stored says: the catalog's `[[functions]]`, looked up by the
//! SQL functions `configured_region`, `configured_architecture` and
//! `configured_ephemeral_storage_mb` that the cost view prices with, and read from what
//! `aws lambda list-functions` prints or from what the function's other invocations say.
//!
//! Lambda text logs carry neither the region nor the architecture, and the OpenTelemetry SDKs'
//! Lambda resources no architecture, so without these an arm64 function known from its logs is
//! priced as the catalog's default architecture. An invocation's own region and architecture
//! always win; the catalog's `[defaults]` price what neither gives.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, StringViewArray, StringViewBuilder};
use arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use serde::Deserialize;

#[cfg(test)]
use super::catalog::DEFAULT_CATALOG;
use super::catalog::{
    ARCHITECTURES, Catalog, FunctionConfiguration, LAMBDA_INCLUDED_EPHEMERAL_STORAGE_MB,
};
use super::sql::text_at;

/// The catalog's `functions` by name.
#[derive(Debug, Default)]
pub struct ConfiguredFunctions {
    by_name: HashMap<String, Vec<FunctionConfiguration>>,
}

/// The one value `values` give, `None` when they give none or disagree.
fn agreed<T: PartialEq>(mut values: impl Iterator<Item = T>) -> Option<T> {
    let first = values.next()?;
    values.all(|v| v == first).then_some(first)
}

impl ConfiguredFunctions {
    pub fn new(entries: &[FunctionConfiguration]) -> ConfiguredFunctions {
        let mut by_name: HashMap<String, Vec<_>> = HashMap::new();
        for e in entries {
            by_name.entry(e.name.clone()).or_default().push(e.clone());
        }
        ConfiguredFunctions { by_name }
    }

    fn entries<'s>(
        &'s self,
        name: &str,
    ) -> impl Iterator<Item = &'s FunctionConfiguration> + use<'s> {
        self.by_name.get(name).into_iter().flatten()
    }

    /// The region of function `name`: the one its entries give; `None` when they give none or
    /// several (its invocations that do not say theirs cannot be told apart).
    pub fn region(&self, name: &str) -> Option<&str> {
        agreed(self.entries(name).filter_map(|e| e.region.as_deref()))
    }

    /// The architecture of function `name` in `region` (in any of its regions when that is not
    /// known): the one its entries there give, an entry without a region counting in each.
    pub fn architecture(&self, name: &str, region: Option<&str>) -> Option<&str> {
        agreed(
            self.in_region(name, region)
                .filter_map(|e| e.architecture.as_deref()),
        )
    }

    /// The ephemeral storage of function `name` in `region` (in any of its regions when that is
    /// not known), MB, as [`ConfiguredFunctions::architecture`] finds the architecture.
    pub fn ephemeral_storage_mb(&self, name: &str, region: Option<&str>) -> Option<u32> {
        agreed(
            self.in_region(name, region)
                .filter_map(|e| e.ephemeral_storage_mb),
        )
    }

    /// The entries of function `name` that apply in `region` (all of them when it is not
    /// known): those of that region and those without one.
    fn in_region<'s, 'r>(
        &'s self,
        name: &str,
        region: Option<&'r str>,
    ) -> impl Iterator<Item = &'s FunctionConfiguration> + use<'s, 'r> {
        self.entries(name).filter(move |e| {
            region.is_none() || e.region.is_none() || e.region.as_deref() == region
        })
    }
}

/// The provider, region and architecture arguments the cost view gives the pricing functions:
/// the stored columns, and, when the catalog has `functions`, theirs for the rows that do not
/// say them.
pub fn place_arguments(catalog: &Catalog) -> &'static str {
    if catalog.functions.is_empty() {
        "provider, region, architecture"
    } else {
        "provider, configured_region(function_name, region), \
         configured_architecture(function_name, configured_region(function_name, region), \
         architecture)"
    }
}

/// The argument the cost view gives the pricing functions after their twelve when some of the
/// catalog's `functions` have an ephemeral storage size: each row's function's, in the region
/// it is priced in. `None` otherwise, and the view prices with twelve arguments as before.
pub fn ephemeral_storage_argument(catalog: &Catalog) -> Option<&'static str> {
    catalog
        .functions
        .iter()
        .any(|f| f.ephemeral_storage_mb.is_some())
        .then_some(
            "configured_ephemeral_storage_mb(function_name, configured_region(function_name, \
             region))",
        )
}

/// Registers `configured_region(function_name, region)` and
/// `configured_architecture(function_name, region, architecture)`, each of which returns its
/// last argument, or where that is null, what the catalog's `functions` give the function; and
/// `configured_ephemeral_storage_mb(function_name, region)`, the function's ephemeral storage
/// there (null where the catalog does not give it).
pub fn register(ctx: &SessionContext, catalog: &Catalog) {
    let functions = Arc::new(ConfiguredFunctions::new(&catalog.functions));
    for asks in [Asks::Region, Asks::Architecture, Asks::EphemeralStorage] {
        ctx.register_udf(ScalarUDF::from(ConfiguredUdf {
            functions: functions.clone(),
            asks,
            signature: Signature::any(asks.arity(), Volatility::Immutable),
        }));
    }
}

/// What a `configured_*` function gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Asks {
    Region,
    Architecture,
    EphemeralStorage,
}

impl Asks {
    fn name(self) -> &'static str {
        match self {
            Asks::Region => "configured_region",
            Asks::Architecture => "configured_architecture",
            Asks::EphemeralStorage => "configured_ephemeral_storage_mb",
        }
    }

    /// `function_name, region` and, for the architecture, `architecture`.
    fn arity(self) -> usize {
        match self {
            Asks::Region | Asks::EphemeralStorage => 2,
            Asks::Architecture => 3,
        }
    }
}

/// `configured_region`, `configured_architecture` or `configured_ephemeral_storage_mb`.
#[derive(Debug)]
struct ConfiguredUdf {
    functions: Arc<ConfiguredFunctions>,
    asks: Asks,
    signature: Signature,
}

impl PartialEq for ConfiguredUdf {
    fn eq(&self, other: &Self) -> bool {
        self.asks == other.asks && Arc::ptr_eq(&self.functions, &other.functions)
    }
}
impl Eq for ConfiguredUdf {}
impl Hash for ConfiguredUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.asks.hash(state);
        self.functions.by_name.len().hash(state);
    }
}

fn texts(array: &ArrayRef) -> Result<StringViewArray> {
    Ok(arrow::compute::cast(array, &DataType::Utf8View)?
        .as_string_view()
        .clone())
}

impl ScalarUDFImpl for ConfiguredUdf {
    fn name(&self) -> &str {
        self.asks.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.asks {
            Asks::EphemeralStorage => DataType::Float64,
            Asks::Region | Asks::Architecture => DataType::Utf8View,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [names, region, own @ ..] = &arrays[..] else {
            return Err(DataFusionError::Plan(format!(
                "{} takes {} arguments",
                self.asks.name(),
                self.asks.arity()
            )));
        };
        let (names, region) = (texts(names)?, texts(region)?);
        let answers: ArrayRef = match self.asks {
            Asks::Region => {
                self.configured_texts(&names, &region, own, |name, _| self.functions.region(name))?
            }
            Asks::Architecture => self.configured_texts(&names, &region, own, |name, place| {
                self.functions.architecture(name, place)
            })?,
            Asks::EphemeralStorage => {
                let mut per_run = PerRun::default();
                let storage: Float64Array = (0..names.len())
                    .map(|i| {
                        per_run.answer(text_at(&names, i), text_at(&region, i), |name, place| {
                            self.functions
                                .ephemeral_storage_mb(name, place)
                                .map(f64::from)
                        })
                    })
                    .collect();
                Arc::new(storage)
            }
        };
        Ok(ColumnarValue::Array(answers))
    }
}

impl ConfiguredUdf {
    /// A `configured_region` or `configured_architecture` result: each row's own value (the last
    /// argument, `region` itself when there is none), or where that is null what `look_up` gives
    /// its function in its region.
    fn configured_texts<'f>(
        &'f self,
        names: &StringViewArray,
        region: &StringViewArray,
        own: &[ArrayRef],
        look_up: impl Fn(&str, Option<&str>) -> Option<&'f str>,
    ) -> Result<ArrayRef> {
        let own = match own.first() {
            Some(own) => texts(own)?,
            None => region.clone(),
        };
        if own.null_count() == 0 {
            return Ok(Arc::new(own));
        }
        let mut out = StringViewBuilder::with_capacity(own.len());
        let mut per_run = PerRun::default();
        for i in 0..own.len() {
            match text_at(&own, i) {
                Some(value) => out.append_value(value),
                None => out.append_option(per_run.answer(
                    text_at(names, i),
                    text_at(region, i),
                    &look_up,
                )),
            }
        }
        Ok(Arc::new(out.finish()))
    }
}

/// The catalog's answer for a row's function and region, looked up once for a run of rows that
/// share them: rows come in runs of one function.
struct PerRun<'r, T> {
    last: Option<(Option<&'r str>, Option<&'r str>, Option<T>)>,
}

impl<T> Default for PerRun<'_, T> {
    fn default() -> Self {
        PerRun { last: None }
    }
}

impl<'r, T: Copy> PerRun<'r, T> {
    /// The answer for function `name` in `place`: `look_up`'s, unless the row before had them.
    fn answer(
        &mut self,
        name: Option<&'r str>,
        place: Option<&'r str>,
        look_up: impl Fn(&str, Option<&str>) -> Option<T>,
    ) -> Option<T> {
        match self.last {
            Some((n, p, answer)) if n == name && p == place => answer,
            _ => {
                let answer = name.and_then(|name| look_up(name, place));
                self.last = Some((name, place, answer));
                answer
            }
        }
    }
}

/// One function as `aws lambda list-functions` prints it (the fields read here).
#[derive(Debug, Deserialize)]
struct ListedFunction {
    #[serde(rename = "FunctionName")]
    name: String,
    #[serde(rename = "FunctionArn")]
    arn: Option<String>,
    /// Lambda's default, `x86_64`, when absent.
    #[serde(rename = "Architectures", default)]
    architectures: Vec<String>,
    /// Lambda's default, 512 MB, when absent.
    #[serde(rename = "EphemeralStorage")]
    ephemeral_storage: Option<ListedEphemeralStorage>,
}

/// A listed function's `EphemeralStorage`.
#[derive(Debug, Deserialize)]
struct ListedEphemeralStorage {
    #[serde(rename = "Size")]
    size_mb: u32,
}

/// The functions the JSON `aws lambda list-functions` prints lists (an object whose `Functions`
/// lists them, or that list alone, as `--query Functions` prints it), `origin` naming it in
/// errors and sources: one entry per listing, with its region (from its ARN), architecture and
/// ephemeral storage.
/// [`functions_toml`] makes them the catalog's entries.
pub fn from_lambda_list_functions(
    json: &str,
    origin: &str,
) -> Result<Vec<FunctionConfiguration>, String> {
    let invalid = |message: String| format!("{origin}: {message}");
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let listed = match value {
        serde_json::Value::Object(mut listing) => listing.remove("Functions").ok_or_else(|| {
            invalid("no \"Functions\": expected what `aws lambda list-functions` prints".into())
        })?,
        list @ serde_json::Value::Array(_) => list,
        _ => {
            return Err(invalid(
                "expected what `aws lambda list-functions` prints (an object with \"Functions\")"
                    .into(),
            ));
        }
    };
    let listed: Vec<ListedFunction> =
        serde_json::from_value(listed).map_err(|e| invalid(format!("a listed function: {e}")))?;
    let source = format!(
        "aws lambda list-functions ({})",
        std::path::Path::new(origin)
            .file_name()
            .map_or_else(|| origin.into(), |n| n.to_string_lossy())
    );
    listed
        .into_iter()
        .map(|function| {
            let region = function.arn.as_deref().and_then(|arn| {
                match arn.split(':').collect::<Vec<_>>()[..] {
                    ["arn", _, "lambda", region, ..] if !region.is_empty() => {
                        Some(region.to_string())
                    }
                    _ => None,
                }
            });
            let architecture = match &function.architectures[..] {
                [] => "x86_64".to_string(),
                [one] if ARCHITECTURES.contains(&one.as_str()) => one.clone(),
                other => {
                    return Err(invalid(format!(
                        "function {}: architectures {other:?}: expected one of x86_64 or arm64",
                        function.name
                    )));
                }
            };
            Ok(FunctionConfiguration {
                name: function.name,
                region,
                architecture: Some(architecture),
                ephemeral_storage_mb: function.ephemeral_storage.map(|s| s.size_mb),
                source: Some(source.clone()),
            })
        })
        .collect()
}

impl crate::Analyzer {
    /// The providers and regions the store's invocations name that `catalog` has no function
    /// prices for: each would stop a cost report at its missing price.
    pub async fn unpriced_regions(
        &self,
        catalog: &Catalog,
    ) -> Result<Vec<(String, String)>, crate::session::AnalyzerError> {
        let batches = self
            .query(
                "SELECT DISTINCT provider, region FROM invocations \
                 WHERE provider IS NOT NULL AND region IS NOT NULL ORDER BY 1, 2",
            )
            .await?;
        let mut unpriced = Vec::new();
        for b in &batches {
            let providers = crate::query::text_column(b.column(0))?;
            let regions = crate::query::text_column(b.column(1))?;
            for i in 0..b.num_rows() {
                let (provider, region) = (providers.value(i), regions.value(i));
                if !catalog.prices_region(provider, region) {
                    unpriced.push((provider.to_string(), region.to_string()));
                }
            }
        }
        Ok(unpriced)
    }

    /// What a store's own invocations say of where their functions run, for the functions some
    /// of whose invocations do not say it (head sampling leaves a traced function's untraced
    /// invocations to its logs, which say no architecture): one entry per function, region and
    /// architecture its other invocations say, for [`functions_toml`], which writes what they
    /// agree on. Also the names of such functions none of whose invocations say anything.
    pub async fn stated_places(
        &self,
    ) -> Result<(Vec<FunctionConfiguration>, Vec<String>), crate::session::AnalyzerError> {
        let batches = self
            .query(
                "SELECT function_name, region, architecture, count(*) AS invocations \
                 FROM invocations WHERE function_name IN (SELECT DISTINCT function_name \
                 FROM invocations WHERE region IS NULL OR architecture IS NULL) \
                 GROUP BY 1, 2, 3 ORDER BY 1, 4 DESC, 2, 3",
            )
            .await?;
        let source = format!("its invocations in {}", self.location());
        let mut stated = Vec::new();
        let mut unsaid: Vec<String> = Vec::new();
        for b in &batches {
            let names = crate::query::text_column(b.column(0))?;
            let regions = crate::query::text_column(b.column(1))?;
            let architectures = crate::query::text_column(b.column(2))?;
            for i in 0..b.num_rows() {
                let Some(name) = names.is_valid(i).then(|| names.value(i)) else {
                    continue;
                };
                let region = regions.is_valid(i).then(|| regions.value(i).to_string());
                let architecture = architectures
                    .is_valid(i)
                    .then(|| architectures.value(i).to_string());
                if region.is_none() && architecture.is_none() {
                    if !unsaid.iter().any(|u| u == name) {
                        unsaid.push(name.to_string());
                    }
                    continue;
                }
                stated.push(FunctionConfiguration {
                    name: name.to_string(),
                    region,
                    architecture,
                    ephemeral_storage_mb: None,
                    source: Some(source.clone()),
                });
            }
        }
        // A function some of whose invocations say where it runs is not one that none say.
        unsaid.retain(|name| !stated.iter().any(|s| &s.name == name));
        Ok((stated, unsaid))
    }
}

/// `listed` as the catalog's `[[functions]]` (TOML, to append to `catalog`'s text), with notes
/// on what could not be written as listed.
///
/// A region `catalog` has no AWS Lambda prices for is written commented out, with why: pricing
/// invocations there would stop at the missing price, where now the catalog's defaults price
/// them (and the cost report warns of it). A function listed more than once in a region as
/// written (its versions, with `--function-version ALL`, or several files) is one entry, without
/// an architecture when its listings disagree (and without an ephemeral storage size when
/// those do); one left with nothing is not written. Ephemeral storage is written only above
/// Lambda's included 512 MB, which costs nothing: a catalog without any prices as fast as the
/// built-in one.
pub fn functions_toml(
    listed: &[FunctionConfiguration],
    catalog: &Catalog,
) -> (String, Vec<String>) {
    let priced = |region: &str| catalog.prices_region("aws", region);
    let mut written: Vec<WrittenEntry<'_>> = Vec::new();
    for f in listed {
        let region = f.region.as_deref().filter(|r| priced(r));
        let i = match written
            .iter()
            .position(|w| w.name == f.name && w.region == region)
        {
            Some(i) => i,
            None => {
                written.push(WrittenEntry {
                    name: &f.name,
                    region,
                    ..Default::default()
                });
                written.len() - 1
            }
        };
        let w = &mut written[i];
        push_new(
            &mut w.unpriced_regions,
            f.region.as_deref().filter(|r| !priced(r)),
        );
        push_new(&mut w.architectures, f.architecture.as_deref());
        if !w.ephemeral_storage_mb.contains(&f.ephemeral_storage_mb) {
            w.ephemeral_storage_mb.push(f.ephemeral_storage_mb);
        }
        push_new(&mut w.sources, f.source.as_deref());
    }
    // A JSON string is a TOML basic string: the same quotes and escapes.
    let quoted = |text: &str| serde_json::Value::from(text).to_string();
    let mut notes = Vec::new();
    let mut out = String::from(
        "\n# Where each function runs, for its invocations that do not say it (Lambda text logs\n\
         # carry neither the region nor the architecture). An invocation's own values win; what\n\
         # neither gives is priced as [defaults].\n",
    );
    for w in &written {
        let (name, region) = (w.name, w.region);
        let architecture = match w.architectures[..] {
            [one] => Some(one),
            _ => None,
        };
        let place = region.map_or_else(String::new, |r| format!(" in {r}"));
        if w.architectures.len() > 1 {
            notes.push(format!(
                "{name} is listed with both architectures{place}: written without one, so its \
                 invocations that do not say theirs are priced as [defaults]"
            ));
        }
        let ephemeral_storage_mb = match w.ephemeral_storage_mb[..] {
            [Some(mb)] if mb > LAMBDA_INCLUDED_EPHEMERAL_STORAGE_MB => Some(mb),
            [_] => None,
            _ => {
                notes.push(format!(
                    "{name} is listed with several ephemeral storage sizes{place}: written \
                     without one, so none of its ephemeral storage is priced"
                ));
                None
            }
        };
        if region.is_none() && architecture.is_none() && ephemeral_storage_mb.is_none() {
            notes.push(format!(
                "{name}: nothing to write (its region unpriced, its architectures disagreeing)"
            ));
            continue;
        }
        out.push_str(&format!("[[functions]]\nname = {}\n", quoted(name)));
        if let Some(region) = region {
            out.push_str(&format!("region = {}\n", quoted(region)));
        }
        for region in &w.unpriced_regions {
            out.push_str(&format!(
                "# region = {}  # no AWS Lambda prices for {region} in this catalog: add them \
                 under [[function_prices]], then uncomment\n",
                quoted(region)
            ));
        }
        if let Some(architecture) = architecture {
            out.push_str(&format!("architecture = {}\n", quoted(architecture)));
        }
        if let Some(mb) = ephemeral_storage_mb {
            out.push_str(&format!("ephemeral_storage_mb = {mb}\n"));
        }
        if !w.sources.is_empty() {
            out.push_str(&format!("source = {}\n", quoted(&w.sources.join(", "))));
        }
    }
    let mut unpriced: Vec<&str> = written
        .iter()
        .flat_map(|w| w.unpriced_regions.iter().copied())
        .collect();
    unpriced.sort_unstable();
    unpriced.dedup();
    notes.extend(unpriced.iter().map(|region| {
        format!(
            "this catalog has no AWS Lambda prices for {region}: the region of its functions is \
             written commented out; add prices for it under [[function_prices]] and uncomment \
             it, or, where it charges what us-east-1 does, run this again with --copy-prices \
             us-east-1:{region}"
        )
    }));
    (out, notes)
}

/// One `[[functions]]` entry [`functions_toml`] writes: a function in a region the catalog
/// prices (or in none), and what its listings there say.
#[derive(Default)]
struct WrittenEntry<'a> {
    name: &'a str,
    region: Option<&'a str>,
    /// Regions of its listings the catalog has no prices for, written commented out.
    unpriced_regions: Vec<&'a str>,
    architectures: Vec<&'a str>,
    /// The ephemeral storage sizes its listings give (`None`: one that gives none).
    ephemeral_storage_mb: Vec<Option<u32>>,
    sources: Vec<&'a str>,
}

/// Adds `value` to `list` unless it is there already.
fn push_new<'a>(list: &mut Vec<&'a str>, value: Option<&'a str>) {
    if let Some(value) = value.filter(|v| !list.contains(v)) {
        list.push(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        name: &str,
        region: Option<&str>,
        architecture: Option<&str>,
    ) -> FunctionConfiguration {
        FunctionConfiguration {
            name: name.into(),
            region: region.map(Into::into),
            architecture: architecture.map(Into::into),
            ephemeral_storage_mb: None,
            source: None,
        }
    }

    /// A function's region is the one its entries give; its architecture the one they give
    /// where it runs, an entry without a region counting in each; disagreement gives nothing.
    #[test]
    fn a_function_is_given_its_one_region_and_the_architecture_of_its_region() {
        let functions = ConfiguredFunctions::new(&[
            entry("resize", Some("eu-west-1"), Some("arm64")),
            entry("orders", Some("us-east-1"), Some("arm64")),
            entry("orders", Some("eu-west-1"), Some("x86_64")),
            entry("mail", None, Some("arm64")),
            entry("audit", Some("us-east-1"), None),
        ]);
        assert_eq!(functions.region("resize"), Some("eu-west-1"));
        assert_eq!(functions.architecture("resize", None), Some("arm64"));
        assert_eq!(
            functions.architecture("resize", Some("eu-west-1")),
            Some("arm64")
        );
        assert_eq!(functions.architecture("resize", Some("us-east-1")), None);

        assert_eq!(functions.region("orders"), None);
        assert_eq!(functions.architecture("orders", None), None);
        assert_eq!(
            functions.architecture("orders", Some("us-east-1")),
            Some("arm64")
        );
        assert_eq!(
            functions.architecture("orders", Some("eu-west-1")),
            Some("x86_64")
        );

        assert_eq!(functions.region("mail"), None);
        assert_eq!(
            functions.architecture("mail", Some("ap-south-1")),
            Some("arm64")
        );
        assert_eq!(functions.region("audit"), Some("us-east-1"));
        assert_eq!(functions.architecture("audit", None), None);
        assert_eq!(functions.region("unlisted"), None);
        assert_eq!(functions.architecture("unlisted", None), None);

        // Ephemeral storage is found as the architecture is, and places nothing.
        let sized = |name: &str, region: Option<&str>, mb: u32| FunctionConfiguration {
            ephemeral_storage_mb: Some(mb),
            ..entry(name, region, None)
        };
        let functions = ConfiguredFunctions::new(&[
            sized("orders", Some("us-east-1"), 10_240),
            sized("orders", Some("eu-west-1"), 2_048),
            sized("mail", None, 1_024),
            entry("resize", Some("us-east-1"), Some("arm64")),
        ]);
        assert_eq!(
            functions.ephemeral_storage_mb("orders", Some("eu-west-1")),
            Some(2_048)
        );
        assert_eq!(functions.ephemeral_storage_mb("orders", None), None);
        assert_eq!(
            functions.ephemeral_storage_mb("mail", Some("ap-south-1")),
            Some(1_024)
        );
        assert_eq!(functions.region("mail"), None);
        assert_eq!(
            functions.ephemeral_storage_mb("resize", Some("us-east-1")),
            None
        );
    }

    /// In SQL, a row's own region and architecture win; a row without them gets its function's.
    #[tokio::test]
    async fn the_sql_functions_fill_only_what_a_row_does_not_say() {
        let mut catalog = Catalog::builtin();
        catalog.functions = vec![
            entry("resize", Some("us-east-1"), Some("arm64")),
            entry("orders", Some("us-east-1"), Some("arm64")),
            entry("orders", Some("eu-west-1"), Some("x86_64")),
        ];
        let ctx = SessionContext::new();
        register(&ctx, &catalog);
        let batches = ctx
            .sql(
                "SELECT n, configured_region(n, r) AS region, \
                 configured_architecture(n, configured_region(n, r), a) AS architecture \
                 FROM (VALUES ('resize', NULL, NULL), ('resize', 'eu-west-1', 'x86_64'), \
                 ('resize', NULL, NULL), ('orders', NULL, NULL), ('orders', 'eu-west-1', NULL), \
                 ('other', NULL, NULL)) AS t(n, r, a)",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        let expected = [
            "+--------+-----------+--------------+",
            "| n      | region    | architecture |",
            "+--------+-----------+--------------+",
            "| resize | us-east-1 | arm64        |",
            "| resize | eu-west-1 | x86_64       |",
            "| resize | us-east-1 | arm64        |",
            "| orders |           |              |",
            "| orders | eu-west-1 | x86_64       |",
            "| other  |           |              |",
            "+--------+-----------+--------------+",
        ];
        assert_eq!(text, expected.join("\n"));
        assert_eq!(
            place_arguments(&Catalog::builtin()),
            "provider, region, architecture"
        );
        assert!(place_arguments(&catalog).contains("configured_architecture(function_name"));
        // No storage given, no storage argument: the pricing functions take twelve.
        assert_eq!(ephemeral_storage_argument(&catalog), None);

        // A function's storage in the region a row is priced in.
        catalog.functions[1].ephemeral_storage_mb = Some(4_096);
        let ctx = SessionContext::new();
        register(&ctx, &catalog);
        let batches = ctx
            .sql(
                "SELECT configured_ephemeral_storage_mb(n, r) AS mb FROM (VALUES ('orders', \
                 'us-east-1'), ('orders', 'eu-west-1'), ('orders', NULL), ('resize', 'us-east-1'), \
                 (NULL, 'us-east-1')) AS t(n, r)",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let mb: Vec<Option<f64>> = batches
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_primitive::<arrow::datatypes::Float64Type>()
                    .iter()
            })
            .collect();
        // An unknown region: the one size its entries give (eu-west-1's gives none).
        assert_eq!(mb, [Some(4_096.0), None, Some(4_096.0), None, None]);
        assert!(ephemeral_storage_argument(&catalog).is_some());
    }

    /// What `aws lambda list-functions` prints, in the shape of its documentation's example.
    const LISTED: &str = r#"{
        "Functions": [
            {"FunctionName": "resize", "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:resize",
             "Runtime": "python3.12", "MemorySize": 1024, "Architectures": ["arm64"],
             "EphemeralStorage": {"Size": 10240}},
            {"FunctionName": "resize", "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:resize:3",
             "Runtime": "python3.12", "MemorySize": 1024, "Architectures": ["arm64"],
             "EphemeralStorage": {"Size": 10240}},
            {"FunctionName": "legacy", "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:legacy",
             "Runtime": "nodejs18.x", "MemorySize": 128, "EphemeralStorage": {"Size": 512}},
            {"FunctionName": "orders", "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:orders",
             "Architectures": ["x86_64"], "EphemeralStorage": {"Size": 2048}},
            {"FunctionName": "orders", "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:orders:7",
             "Architectures": ["arm64"], "EphemeralStorage": {"Size": 4096}},
            {"FunctionName": "thumbs", "FunctionArn": "arn:aws:lambda:eu-west-1:123456789012:function:thumbs",
             "Architectures": ["arm64"]}
        ],
        "NextMarker": null
    }"#;

    #[test]
    fn listed_functions_become_catalog_entries_and_unpriced_regions_stay_commented_out() {
        let listed = from_lambda_list_functions(LISTED, "dir/functions.json").unwrap();
        assert_eq!(listed.len(), 6);
        assert_eq!(
            listed[2],
            FunctionConfiguration {
                name: "legacy".into(),
                region: Some("us-east-1".into()),
                // Lambda's default architecture when none is listed.
                architecture: Some("x86_64".into()),
                ephemeral_storage_mb: Some(512),
                source: Some("aws lambda list-functions (functions.json)".into()),
            }
        );
        // `--query Functions` prints the list alone.
        let alone = format!(
            "[{}]",
            LISTED
                .split_once('[')
                .unwrap()
                .1
                .rsplit_once(']')
                .unwrap()
                .0
        );
        assert_eq!(
            from_lambda_list_functions(&alone, "functions.json").unwrap(),
            listed
        );

        let builtin = Catalog::builtin();
        let (toml, notes) = functions_toml(&listed, &builtin);
        let catalog = Catalog::parse(&format!("{DEFAULT_CATALOG}{toml}"), "t").unwrap();
        let written: Vec<_> = catalog
            .functions
            .iter()
            .map(|f| {
                (
                    f.name.as_str(),
                    f.region.as_deref(),
                    f.architecture.as_deref(),
                    f.ephemeral_storage_mb,
                )
            })
            .collect();
        // Storage is written above the included 512 MB only, and not where versions disagree.
        assert_eq!(
            written,
            [
                ("resize", Some("us-east-1"), Some("arm64"), Some(10_240)),
                ("legacy", Some("us-east-1"), Some("x86_64"), None),
                ("orders", Some("us-east-1"), None, None),
                ("thumbs", None, Some("arm64"), None),
            ]
        );
        assert!(
            toml.contains(
                "# region = \"eu-west-1\"  # no AWS Lambda prices for eu-west-1 in this catalog"
            ),
            "{toml}"
        );
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(notes[0].starts_with("orders is listed with both architectures in us-east-1"));
        assert!(notes[1].starts_with("orders is listed with several ephemeral storage sizes"));
        assert!(notes[2].contains("no AWS Lambda prices for eu-west-1"));
    }

    #[test]
    fn output_that_is_not_a_listing_of_functions_is_a_clear_error() {
        let err = |json: &str| from_lambda_list_functions(json, "f.json").unwrap_err();
        assert!(err("{").starts_with("f.json: not JSON"));
        assert!(err(r#"{"Configuration": {}}"#).contains("no \"Functions\""));
        assert!(err("3").contains("an object with \"Functions\""));
        assert!(err(r#"{"Functions": [{"FunctionArn": "x"}]}"#).contains("FunctionName"));
        assert_eq!(
            err(r#"[{"FunctionName": "f", "Architectures": ["sparc"]}]"#),
            "f.json: function f: architectures [\"sparc\"]: expected one of x86_64 or arm64"
        );
    }
}
