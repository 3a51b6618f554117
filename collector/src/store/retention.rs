//! Retention: deleting whole partitions whose hour ended before the retention cut-off.
//!
//! Retention never rewrites a file: a partition is kept whole or deleted whole, so a query over the
//! retained window returns exactly what it returned before.

use std::collections::BTreeSet;

use super::StoreError;
use super::layout::{Partition, list_table};
use super::writer::Objects;
use crate::model::Table;

/// Deletes every partition whose hour ended at or before `cutoff_ns` (ns since the epoch).
/// Returns the partitions deleted.
pub async fn apply_retention(
    objects: &Objects,
    cutoff_ns: i64,
) -> Result<BTreeSet<Partition>, StoreError> {
    let mut deleted = BTreeSet::new();
    for table in Table::ALL {
        let listing = list_table(objects.store.as_ref(), table).await?;
        let expired: Vec<_> = listing
            .live
            .iter()
            .chain(listing.superseded.iter())
            .filter(|f| f.partition.end_ns() <= cutoff_ns)
            .collect();
        objects
            .delete_all(expired.iter().map(|f| &f.meta.location))
            .await?;
        deleted.extend(expired.iter().map(|f| f.partition));
    }
    Ok(deleted)
}
