//! Concurrency: how many invocations of a function run at once.
//!
//! By the definition in PRODUCT.md, the concurrency at instant `t` is the number of invocations
//! with `start_time <= t < end_time` (half-open: an invocation that ends at `t` no longer counts at
//! `t`, one that starts at `t` does, and one that starts and ends at `t` never counts).
//!
//! It is computed by a sweep over the sorted start (+1) and end (−1) times, O(n log n), never by
//! a self-join. All events at one timestamp are applied before the count is read, which is what
//! makes the intervals half-open. The sweep backs the `peak_concurrency` and
//! `peak_concurrency_time` SQL aggregates and the `concurrency` report's time series.

use std::fmt::Debug;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, ListArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{Accumulator, AggregateUDF, Volatility, create_udaf};

/// The highest concurrency and the first instant it was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Peak {
    pub concurrency: i64,
    /// ns since the epoch; `None` when no interval has a positive length.
    pub at: Option<i64>,
}

/// The most buckets a series may have.
pub const MAX_BUCKETS: i64 = 1_000_000;

/// The start and end times of `(start, end)` intervals (ns) with a positive length, each list
/// sorted. Sorting is the O(n log n) step; the peak and the series are each one merge-walk over
/// both lists, which applies every start and end at one instant before reading the count. Two
/// sorted lists take the 16 bytes per interval the intervals themselves take, and the sort
/// happens in place: at 100M invocations, a copy of the events as (time, ±1) pairs was another
/// 32 bytes per interval at the moment of the sweep (benchmarks).
pub struct Events {
    starts: Vec<i64>,
    ends: Vec<i64>,
}

impl Events {
    pub fn of(intervals: &[(i64, i64)]) -> Events {
        let (starts, ends) = intervals.iter().copied().unzip();
        Events::from_parallel(starts, ends)
    }

    /// The intervals `(starts[i], ends[i])`, sorted in place (both lists must be as long).
    pub fn from_parallel(mut starts: Vec<i64>, mut ends: Vec<i64>) -> Events {
        debug_assert_eq!(starts.len(), ends.len());
        let mut kept = 0;
        for i in 0..starts.len().min(ends.len()) {
            if ends[i] > starts[i] {
                starts[kept] = starts[i];
                ends[kept] = ends[i];
                kept += 1;
            }
        }
        starts.truncate(kept);
        ends.truncate(kept);
        starts.sort_unstable();
        ends.sort_unstable();
        Events { starts, ends }
    }

    /// The count after applying every event at or before the next event's instant, and that
    /// instant; `None` once no event is left. `i`, `j` index the next start and end.
    fn step(&self, i: &mut usize, j: &mut usize, current: &mut i64) -> Option<i64> {
        let t = self.next_instant(*i, *j)?;
        while self.starts.get(*i) == Some(&t) {
            *current += 1;
            *i += 1;
        }
        while self.ends.get(*j) == Some(&t) {
            *current -= 1;
            *j += 1;
        }
        Some(t)
    }

    /// The instant of the next event; `None` once none is left.
    fn next_instant(&self, i: usize, j: usize) -> Option<i64> {
        match (self.starts.get(i), self.ends.get(j)) {
            (Some(&s), Some(&e)) => Some(s.min(e)),
            (Some(&s), None) => Some(s),
            (None, Some(&e)) => Some(e),
            (None, None) => None,
        }
    }

    /// The peak concurrency.
    pub fn peak(&self) -> Peak {
        let mut best = Peak::default();
        let (mut i, mut j, mut current) = (0, 0, 0i64);
        // Once every start is applied the count only falls.
        while i < self.starts.len() {
            let Some(t) = self.step(&mut i, &mut j, &mut current) else {
                break;
            };
            if current > best.concurrency {
                best = Peak {
                    concurrency: current,
                    at: Some(t),
                };
            }
        }
        best
    }

    /// The highest concurrency within each bucket `[from + k*step, from + (k+1)*step)` up to
    /// `to`.
    pub fn series(&self, from: i64, to: i64, step: i64) -> Vec<(i64, i64)> {
        assert!(step > 0, "the step must be positive");
        if to <= from {
            return Vec::new();
        }
        let buckets = ((to - from - 1) / step + 1).min(MAX_BUCKETS);
        let mut out: Vec<(i64, i64)> = (0..buckets).map(|k| (from + k * step, 0)).collect();
        let (mut i, mut j, mut current) = (0, 0, 0i64);
        // Apply everything before `from`.
        while self.next_instant(i, j).is_some_and(|t| t < from) {
            self.step(&mut i, &mut j, &mut current);
        }
        for (bucket_start, max) in out.iter_mut() {
            let bucket_end = *bucket_start + step;
            // The count carried into the bucket holds at its first instant, unless events at that
            // very instant change it (they are applied below, before being read).
            let carried_holds = self.next_instant(i, j).is_none_or(|t| t > *bucket_start);
            if carried_holds {
                *max = current;
            }
            while self.next_instant(i, j).is_some_and(|t| t < bucket_end) {
                self.step(&mut i, &mut j, &mut current);
                *max = (*max).max(current);
            }
        }
        out
    }
}

/// Collects the (start, end) pairs of a group.
#[derive(Debug, Default)]
struct IntervalsAccumulator {
    starts: Vec<i64>,
    ends: Vec<i64>,
    want_time: bool,
}

fn as_i64(array: &ArrayRef) -> Result<Int64Array> {
    let cast = arrow::compute::cast(array, &DataType::Int64)?;
    Ok(cast.as_primitive::<Int64Type>().clone())
}

impl Accumulator for IntervalsAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let (starts, ends) = (as_i64(&values[0])?, as_i64(&values[1])?);
        for i in 0..starts.len() {
            // An interval without a positive length never counts; it is not kept.
            if starts.is_valid(i) && ends.is_valid(i) && ends.value(i) > starts.value(i) {
                self.starts.push(starts.value(i));
                self.ends.push(ends.value(i));
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let events = Events::from_parallel(
            std::mem::take(&mut self.starts),
            std::mem::take(&mut self.ends),
        );
        let peak = events.peak();
        Ok(if self.want_time {
            ScalarValue::TimestampNanosecond(peak.at, Some(Arc::from("UTC")))
        } else {
            ScalarValue::Int64(Some(peak.concurrency))
        })
    }

    fn size(&self) -> usize {
        size_of_val(self) + (self.starts.capacity() + self.ends.capacity()) * size_of::<i64>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        // The vector becomes the list's buffer as it is, without a copy.
        let list = |values: &mut Vec<i64>| {
            let values = Int64Array::from(std::mem::take(values));
            ScalarValue::List(Arc::new(ListArray::new(
                Arc::new(Field::new_list_field(DataType::Int64, true)),
                OffsetBuffer::from_lengths([values.len()]),
                Arc::new(values),
                None,
            )))
        };
        Ok(vec![list(&mut self.starts), list(&mut self.ends)])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        for (column, into) in [(&states[0], &mut self.starts), (&states[1], &mut self.ends)] {
            for list in column.as_list::<i32>().iter().flatten() {
                into.extend(list.as_primitive::<Int64Type>().iter().flatten());
            }
        }
        Ok(())
    }
}

fn udaf(name: &str, want_time: bool) -> AggregateUDF {
    let timestamp = DataType::Timestamp(arrow::datatypes::TimeUnit::Nanosecond, Some("UTC".into()));
    let list = DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true)));
    create_udaf(
        name,
        vec![timestamp.clone(), timestamp.clone()],
        Arc::new(if want_time {
            timestamp
        } else {
            DataType::Int64
        }),
        Volatility::Immutable,
        Arc::new(move |_| {
            Ok(Box::new(IntervalsAccumulator {
                want_time,
                ..Default::default()
            }))
        }),
        Arc::new(vec![list.clone(), list]),
    )
}

/// `peak_concurrency(start_time, end_time)`: the highest number of rows whose half-open
/// intervals overlap.
pub fn peak_concurrency_udaf() -> AggregateUDF {
    udaf("peak_concurrency", false)
}

/// `peak_concurrency_time(start_time, end_time)`: the first instant of that peak.
pub fn peak_concurrency_time_udaf() -> AggregateUDF {
    udaf("peak_concurrency_time", true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition, evaluated at every instant where the count can change.
    fn brute_force_peak(intervals: &[(i64, i64)]) -> Peak {
        let mut instants: Vec<i64> = intervals.iter().flat_map(|&(s, e)| [s, e]).collect();
        instants.sort_unstable();
        instants.dedup();
        let mut best = Peak::default();
        for t in instants {
            let n = intervals.iter().filter(|&&(s, e)| s <= t && t < e).count() as i64;
            if n > best.concurrency {
                best = Peak {
                    concurrency: n,
                    at: Some(t),
                };
            }
        }
        best
    }

    fn brute_force_series(
        intervals: &[(i64, i64)],
        from: i64,
        to: i64,
        step: i64,
    ) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        let mut b = from;
        while b < to {
            let mut instants: Vec<i64> = vec![b];
            instants.extend(
                intervals
                    .iter()
                    .flat_map(|&(s, e)| [s, e])
                    .filter(|&t| t >= b && t < b + step),
            );
            let max = instants
                .iter()
                .map(|&t| intervals.iter().filter(|&&(s, e)| s <= t && t < e).count() as i64)
                .max()
                .unwrap_or(0);
            out.push((b, max));
            b += step;
        }
        out
    }

    #[test]
    fn back_to_back_invocations_do_not_overlap() {
        assert_eq!(Events::of(&[(0, 10), (10, 20)]).peak().concurrency, 1);
        assert_eq!(
            Events::of(&[(0, 10), (5, 20)]).peak(),
            Peak {
                concurrency: 2,
                at: Some(5)
            }
        );
        assert_eq!(Events::of(&[(5, 5)]).peak(), Peak::default());
    }

    proptest! {
        #[test]
        fn the_sweep_matches_the_definition(
            intervals in proptest::collection::vec((0i64..50, 0i64..20), 0..60)
                .prop_map(|v| v.into_iter().map(|(s, len)| (s, s + len)).collect::<Vec<_>>())
        ) {
            let events = Events::of(&intervals);
            prop_assert_eq!(events.peak(), brute_force_peak(&intervals));
            prop_assert_eq!(events.series(0, 80, 7), brute_force_series(&intervals, 0, 80, 7));
            prop_assert_eq!(events.series(13, 40, 1), brute_force_series(&intervals, 13, 40, 1));
        }
    }
}
