//! `date_trunc` (and `datetrunc`): DataFusion's, with UTC times truncated as the plain times they
//! are.
//!
//! Every time faasobs stores is a `Timestamp(Nanosecond, "UTC")`. DataFusion 55 truncates a time
//! that carries a zone through chrono, value by value, for `hour` and coarser, and while doing so
//! formats an "out of range" error message for every value whether or not it is used. A time
//! without a zone it truncates to the hour or day by arithmetic. For UTC the two answers are the
//! same (UTC has no offsets and no transitions), so this function takes the zone off a UTC
//! argument, lets DataFusion's function truncate the plain time and puts the zone back on the
//! answer, without copying the values. Every other zone, and every other argument, goes to
//! DataFusion's function unchanged.
//!
//! `date_trunc('hour', start_time)` over 10M invocations spent most of its time there: in the
//! benchmark's hourly query it was about three fifths of the samples.

use std::sync::Arc;

use arrow::array::make_array;
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature,
};

/// `date_trunc`, to register in a session in place of DataFusion's.
pub fn date_trunc_udf() -> ScalarUDF {
    ScalarUDF::from(UtcDateTrunc {
        inner: datafusion::functions::datetime::date_trunc(),
    })
}

/// The names of the zone UTC that a stored or typed timestamp can carry.
fn is_utc(zone: &str) -> bool {
    matches!(zone, "UTC" | "Etc/UTC" | "+00:00")
}

/// The zone-less type of `data_type` when it is a timestamp in UTC.
fn without_utc(data_type: &DataType) -> Option<DataType> {
    match data_type {
        DataType::Timestamp(unit, Some(zone)) if is_utc(zone) => {
            Some(DataType::Timestamp(*unit, None))
        }
        _ => None,
    }
}

/// `value` (a timestamp) as the same instants under `zone`, sharing the values' buffers.
fn in_zone(value: &ColumnarValue, zone: Option<Arc<str>>) -> Result<ColumnarValue> {
    Ok(match value {
        ColumnarValue::Array(array) => match array.data_type() {
            DataType::Timestamp(unit, _) => {
                // Only the type's zone changes: the same buffers under the same unit.
                let data = array.to_data().into_builder();
                let data = data.data_type(DataType::Timestamp(*unit, zone)).build()?;
                ColumnarValue::Array(make_array(data))
            }
            _ => ColumnarValue::Array(Arc::clone(array)),
        },
        ColumnarValue::Scalar(scalar) => ColumnarValue::Scalar(match scalar {
            ScalarValue::TimestampNanosecond(v, _) => ScalarValue::TimestampNanosecond(*v, zone),
            ScalarValue::TimestampMicrosecond(v, _) => ScalarValue::TimestampMicrosecond(*v, zone),
            ScalarValue::TimestampMillisecond(v, _) => ScalarValue::TimestampMillisecond(*v, zone),
            ScalarValue::TimestampSecond(v, _) => ScalarValue::TimestampSecond(*v, zone),
            other => other.clone(),
        }),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct UtcDateTrunc {
    inner: Arc<ScalarUDF>,
}

impl ScalarUDFImpl for UtcDateTrunc {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let zone = match args.args.get(1).map(|time| time.data_type()) {
            Some(DataType::Timestamp(_, zone)) => zone,
            _ => None,
        };
        let Some(plain_type) = args.args.get(1).and_then(|t| without_utc(&t.data_type())) else {
            return self.inner.invoke_with_args(args);
        };
        args.args[1] = in_zone(&args.args[1], None)?;
        if let Some(field) = args.arg_fields.get_mut(1) {
            *field = Arc::new(field.as_ref().clone().with_data_type(plain_type.clone()));
        }
        args.return_field = Arc::new(Field::new(
            args.return_field.name(),
            plain_type,
            args.return_field.is_nullable(),
        ));
        let truncated = self.inner.invoke_with_args(args)?;
        in_zone(&truncated, zone)
    }

    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(inputs)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, ArrayRef, AsArray, TimestampNanosecondArray};
    use arrow::datatypes::TimestampNanosecondType;
    use datafusion::prelude::SessionContext;

    /// Times around month, year, leap-day and DST boundaries (as instants), pre-1970 and
    /// far-future ones, and a null.
    fn times() -> Vec<Option<i64>> {
        let mut next = crate::test_numbers(0x5eed_da7e);
        let mut times: Vec<Option<i64>> = vec![
            None,
            Some(0),
            Some(-1),
            Some(-86_400_000_000_001),
            Some(1_709_164_800_000_000_000),  // 2024-02-29T00:00:00Z
            Some(1_711_846_799_999_999_999),  // 2024-03-30T23:59:59.999999999Z
            Some(1_730_591_999_999_999_999),  // 2024-11-02T23:59:59.999999999Z
            Some(4_102_444_800_123_456_789),  // 2100-01-01
            Some(-2_208_988_800_000_000_000), // 1900-01-01
        ];
        for _ in 0..2000 {
            // Anywhere from 1900 to 2100, at nanosecond precision.
            let span = 6_311_433_600_000_000_000u64;
            let at = next(span) as i64 - 2_208_988_800_000_000_000;
            times.push(Some(at));
        }
        times
    }

    async fn truncated(ctx: &SessionContext, unit: &str, zone: Option<&str>) -> Vec<Option<i64>> {
        let array = TimestampNanosecondArray::from(times()).with_timezone_opt(zone);
        let batch =
            arrow::record_batch::RecordBatch::try_from_iter([("t", Arc::new(array) as ArrayRef)])
                .unwrap();
        ctx.register_batch("times", batch).unwrap();
        let sql = format!(
            "SELECT date_trunc('{unit}', t) AS d, datetrunc('{unit}', t) AS alias FROM times"
        );
        let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        ctx.deregister_table("times").unwrap();
        let mut out = Vec::new();
        for batch in batches {
            assert_eq!(batch.column(0).data_type(), batch.column(1).data_type());
            let expected_type =
                DataType::Timestamp(arrow::datatypes::TimeUnit::Nanosecond, zone.map(Arc::from));
            assert_eq!(batch.column(0).data_type(), &expected_type);
            let d = batch.column(0).as_primitive::<TimestampNanosecondType>();
            let alias = batch.column(1).as_primitive::<TimestampNanosecondType>();
            assert_eq!(d, alias);
            out.extend(d.iter());
        }
        out
    }

    #[tokio::test]
    async fn utc_times_truncate_as_datafusion_truncates_them() {
        let ours = SessionContext::new();
        ours.register_udf(date_trunc_udf());
        let datafusions = SessionContext::new();
        for unit in [
            "microsecond",
            "millisecond",
            "second",
            "minute",
            "hour",
            "day",
            "week",
            "month",
            "quarter",
            "year",
        ] {
            for zone in [Some("UTC"), Some("+00:00"), Some("Etc/UTC"), None] {
                let want = truncated(&datafusions, unit, zone).await;
                let got = truncated(&ours, unit, zone).await;
                assert_eq!(got, want, "{unit} in {zone:?}");
            }
        }
    }

    #[tokio::test]
    async fn other_zones_and_scalars_are_datafusions() {
        let ours = SessionContext::new();
        ours.register_udf(date_trunc_udf());
        let datafusions = SessionContext::new();
        for zone in ["Europe/Berlin", "America/New_York", "+05:30"] {
            for unit in ["hour", "day", "month"] {
                let want = truncated(&datafusions, unit, Some(zone)).await;
                let got = truncated(&ours, unit, Some(zone)).await;
                assert_eq!(got, want, "{unit} in {zone}");
            }
        }
        let sql = "SELECT date_trunc('day', arrow_cast(TIMESTAMP '2024-03-31T01:30:00', \
                              'Timestamp(Nanosecond, Some(\"UTC\"))')) AS utc, \
                          date_trunc('day', arrow_cast(TIMESTAMP '2024-03-31T01:30:00', \
                              'Timestamp(Nanosecond, Some(\"Europe/Berlin\"))')) AS berlin, \
                          date_trunc('hour', NULL) AS nothing";
        let show = |ctx: SessionContext| async move {
            let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
            arrow::util::pretty::pretty_format_batches(&batches)
                .unwrap()
                .to_string()
        };
        let (got, want) = (show(ours).await, show(datafusions).await);
        assert_eq!(got, want);
        assert!(got.contains("2024-03-31T00:00:00Z"), "{got}");
    }

    #[test]
    fn only_utc_times_lose_their_zone() {
        use arrow::datatypes::TimeUnit::Nanosecond;
        let utc = DataType::Timestamp(Nanosecond, Some("UTC".into()));
        assert_eq!(
            without_utc(&utc),
            Some(DataType::Timestamp(Nanosecond, None))
        );
        let berlin = DataType::Timestamp(Nanosecond, Some("Europe/Berlin".into()));
        assert_eq!(without_utc(&berlin), None);
        assert_eq!(without_utc(&DataType::Timestamp(Nanosecond, None)), None);
        let array: ArrayRef = Arc::new(TimestampNanosecondArray::from(vec![Some(7), None]));
        let zoned = in_zone(&ColumnarValue::Array(array), Some("UTC".into())).unwrap();
        let ColumnarValue::Array(zoned) = zoned else {
            panic!("an array stays an array");
        };
        assert_eq!(zoned.data_type(), &utc);
        assert_eq!(zoned.null_count(), 1);
    }
}
