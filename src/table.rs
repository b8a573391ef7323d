//! An in-memory Arrow table and its one on-disk encoding, Parquet.
//!
//! Every stage output travels as a [`Table`]; the store keeps it as Parquet bytes. Rules it keeps:
//! - encoding is deterministic: the same table always gives the same bytes (fixed writer settings,
//!   no timestamps), whatever batches its rows come in (a local query, a cluster's result and a
//!   decoded object cut them differently), so content hashes are stable and early cutoff works;
//! - decoding never trusts the bytes' origin: errors are returned, never panics.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use serde::{Deserialize, Serialize};

/// `ArrowWriter`'s default row group size: up to it, the parallel encoder writes the same bytes.
const MAX_ROW_GROUP_ROWS: usize = 1024 * 1024;

/// Rows are handed to the Parquet writer in windows of this many, whatever batches they come in.
/// The writer cuts a page only at the end of a mini-batch, and mini-batches start with each write
/// and hold 1,024 rows for a column with a validity bitmap, up to 20,000 without one: one write
/// per 1,024 rows is one mini-batch either way, so the bytes depend on the rows alone, not on how
/// a query, a cluster's result or a decoder cut them or kept an empty bitmap.
const WRITE_ROWS: usize = 1024;

/// From this many rows, work split by column (encoding, converting cells, checks) goes to the
/// rayon pool; below, handing a few kilobytes to other threads costs more than doing it here, and
/// the build's other stages keep the cores busy anyway.
pub(crate) const PARALLEL_FROM_ROWS: usize = 20_000;

/// Objects are read whole, never filtered: statistics would cost time for nothing, and
/// dictionaries rarely pay on the wide text columns (titles, excerpts, urls), while snappy still
/// shrinks the repetitive ones.
fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::None)
        .set_created_by("winebuild".to_string())
        .build()
}

/// A schema and its record batches.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub(crate) schema: SchemaRef,
    pub(crate) batches: Vec<RecordBatch>,
}

/// One column's name and Arrow type, as shown to people and kept in records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ColumnInfo {
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) data_type: String,
}

impl Table {
    pub(crate) fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> Table {
        Table { schema, batches }
    }

    #[cfg(test)]
    pub(crate) fn empty(schema: arrow::datatypes::Schema) -> Table {
        Table::new(Arc::new(schema), Vec::new())
    }

    pub(crate) fn num_rows(&self) -> usize {
        self.batches
            .iter()
            .map(arrow::array::RecordBatch::num_rows)
            .sum()
    }

    pub(crate) fn columns(&self) -> Vec<ColumnInfo> {
        self.schema
            .fields()
            .iter()
            .map(|f| ColumnInfo {
                name: f.name().clone(),
                data_type: f.data_type().to_string(),
            })
            .collect()
    }

    /// The table as one batch (an empty batch for an empty table).
    pub(crate) fn concat(&self) -> Result<RecordBatch, arrow::error::ArrowError> {
        arrow::compute::concat_batches(&self.schema, &self.batches)
    }

    /// The rows in windows of [`WRITE_ROWS`] (the last one shorter): slices of the batches, joined
    /// only where a window spans two of them.
    fn in_windows(&self) -> Result<Vec<RecordBatch>, arrow::error::ArrowError> {
        let mut windows = Vec::with_capacity(self.num_rows().div_ceil(WRITE_ROWS));
        let mut pending: Vec<RecordBatch> = Vec::new();
        let mut pending_rows = 0;
        let mut close = |pending: &mut Vec<RecordBatch>| -> Result<(), arrow::error::ArrowError> {
            let window = match pending.len() {
                1 => pending
                    .pop()
                    .unwrap_or_else(|| RecordBatch::new_empty(self.schema.clone())),
                _ => arrow::compute::concat_batches(&self.schema, pending.iter())?,
            };
            pending.clear();
            windows.push(window);
            Ok(())
        };
        for batch in &self.batches {
            let mut offset = 0;
            while offset < batch.num_rows() {
                let take = (WRITE_ROWS - pending_rows).min(batch.num_rows() - offset);
                pending.push(batch.slice(offset, take));
                pending_rows += take;
                offset += take;
                if pending_rows == WRITE_ROWS {
                    close(&mut pending)?;
                    pending_rows = 0;
                }
            }
        }
        if pending_rows > 0 {
            close(&mut pending)?;
        }
        Ok(windows)
    }

    /// Encodes the table as Parquet with fixed settings, so equal tables give equal bytes.
    ///
    /// Columns of big tables are encoded in parallel (rayon), then appended in order to one row group: the
    /// bytes are those a sequential `ArrowWriter` writes, in half the time on two cores.
    pub(crate) fn to_parquet(&self) -> Result<Vec<u8>, parquet::errors::ParquetError> {
        use parquet::arrow::ArrowSchemaConverter;
        use parquet::arrow::arrow_writer::{
            ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves,
        };
        use parquet::file::writer::SerializedFileWriter;
        use rayon::prelude::*;

        let mut properties = writer_properties();
        parquet::arrow::add_encoded_arrow_schema_to_metadata(&self.schema, &mut properties);
        let properties = Arc::new(properties);
        let parquet_schema = ArrowSchemaConverter::new()
            .with_coerce_types(properties.coerce_types())
            .convert(&self.schema)?;
        let mut bytes = Vec::new();
        let mut writer = SerializedFileWriter::new(
            &mut bytes,
            parquet_schema.root_schema_ptr(),
            properties.clone(),
        )?;
        if self.num_rows() > 0 && self.num_rows() <= MAX_ROW_GROUP_ROWS {
            let factory = ArrowRowGroupWriterFactory::new(&writer, self.schema.clone());
            let column_writers = factory.create_column_writers(0)?;
            if column_writers.len() != self.schema.fields().len() {
                // A nested column has several leaves: the sequential writer knows how to pair them.
                drop(writer);
                return self.to_parquet_sequentially();
            }
            let windows = self.in_windows()?;
            let encode = |(i, mut column_writer): (usize, ArrowColumnWriter)| {
                let field = self.schema.field(i);
                for batch in &windows {
                    for leaf in compute_leaves(field, batch.column(i))? {
                        column_writer.write(&leaf)?;
                    }
                }
                column_writer.close()
            };
            if self.num_rows() >= PARALLEL_FROM_ROWS {
                let chunks = column_writers
                    .into_par_iter()
                    .enumerate()
                    .map(encode)
                    .collect::<Result<Vec<_>, _>>()?;
                let mut row_group = writer.next_row_group()?;
                for chunk in chunks {
                    chunk.append_to_row_group(&mut row_group)?;
                }
                row_group.close()?;
            } else {
                // Each column appended as soon as it is encoded: its pages are freed before the
                // next column's are made, in the same memory.
                let mut row_group = writer.next_row_group()?;
                for column in column_writers.into_iter().enumerate() {
                    encode(column)?.append_to_row_group(&mut row_group)?;
                }
                row_group.close()?;
            }
        } else if self.num_rows() > MAX_ROW_GROUP_ROWS {
            drop(writer);
            return self.to_parquet_sequentially();
        }
        writer.close()?;
        Ok(bytes)
    }

    /// The plain `ArrowWriter` path, for what the parallel one does not cover (nested columns,
    /// several row groups).
    fn to_parquet_sequentially(&self) -> Result<Vec<u8>, parquet::errors::ParquetError> {
        let mut bytes = Vec::new();
        let mut writer =
            ArrowWriter::try_new(&mut bytes, self.schema.clone(), Some(writer_properties()))?;
        for batch in &self.in_windows()? {
            writer.write(batch)?;
        }
        writer.close()?;
        Ok(bytes)
    }

    pub(crate) fn from_parquet(bytes: Vec<u8>) -> Result<Table, parquet::errors::ParquetError> {
        Table::from_parquet_in_batches_of(bytes, 64 * 1024)
    }

    /// The schema of a Parquet file, from its footer alone.
    pub(crate) fn parquet_schema(
        path: &std::path::Path,
    ) -> Result<SchemaRef, parquet::errors::ParquetError> {
        let file = std::fs::File::open(path)?;
        Ok(ParquetRecordBatchReaderBuilder::try_new(file)?
            .schema()
            .clone())
    }

    /// Like [`Table::from_parquet`], with batches of up to `rows` rows (one batch per row group
    /// when `rows` is large: what a reader that wants whole columns asks for).
    pub(crate) fn from_parquet_in_batches_of(
        bytes: Vec<u8>,
        rows: usize,
    ) -> Result<Table, parquet::errors::ParquetError> {
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))?;
        let schema = builder.schema().clone();
        let reader = builder.with_batch_size(rows).build()?;
        let batches = reader.collect::<Result<Vec<_>, _>>()?;
        Ok(Table::new(schema, batches))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    fn table() -> Table {
        table_of(1000, 1500)
    }

    /// A table of ids 0..`total` in three batches (the second empty), split at `first`.
    fn table_of(first: i64, total: i64) -> Table {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("price", DataType::Float64, true),
        ]));
        let batch = |ids: Vec<i64>| {
            let names: Vec<Option<String>> = ids
                .iter()
                .map(|i| (i % 3 != 0).then(|| format!("vin {i}")))
                .collect();
            let prices: Vec<f64> = ids.iter().map(|i| *i as f64 / 10.0).collect();
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(ids)),
                    Arc::new(StringArray::from(names)),
                    Arc::new(Float64Array::from(prices)),
                ],
            )
            .unwrap()
        };
        Table::new(
            schema.clone(),
            vec![
                batch((0..first).collect()),
                batch(vec![]),
                batch((first..total).collect()),
            ],
        )
    }

    #[test]
    fn parallel_encoding_writes_the_sequential_writers_bytes() {
        for table in [table(), table_of(15_000, PARALLEL_FROM_ROWS as i64 + 5_000)] {
            assert_eq!(
                table.to_parquet().unwrap(),
                table.to_parquet_sequentially().unwrap()
            );
        }
        let empty = Table::empty(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        assert_eq!(
            empty.to_parquet().unwrap(),
            empty.to_parquet_sequentially().unwrap()
        );
    }

    #[test]
    fn the_bytes_depend_on_the_rows_not_on_how_batches_cut_them() {
        // A cluster's result and a local one cut the same rows differently; pages must not move.
        let total = 3 * 8_192 + 2_500;
        let reference = table_of(1, total).to_parquet().unwrap();
        for first in [777, 8_191, 8_192, 20_000, total - 1] {
            assert!(
                table_of(first, total).to_parquet().unwrap() == reference,
                "split at {first}"
            );
        }
        let whole = table_of(total, total);
        let one_batch = Table::new(whole.schema.clone(), vec![whole.concat().unwrap()]);
        assert!(one_batch.to_parquet().unwrap() == reference);
        // A validity bitmap with no null in it (what a concatenation or a decoder may leave).
        let batch = one_batch.batches[0].clone();
        let price = batch
            .column(2)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        let with_bitmap = Float64Array::new(
            price.values().clone(),
            Some(arrow::buffer::NullBuffer::new_valid(price.len())),
        );
        let mut columns = batch.columns().to_vec();
        columns[2] = Arc::new(with_bitmap);
        let bitmapped = RecordBatch::try_new(batch.schema(), columns).unwrap();
        assert!(bitmapped.column(2).nulls().is_some());
        let table = Table::new(whole.schema.clone(), vec![bitmapped]);
        assert!(table.to_parquet().unwrap() == reference);
    }

    #[test]
    fn parquet_round_trips() {
        let table = table();
        let back = Table::from_parquet(table.to_parquet().unwrap()).unwrap();
        assert_eq!(back.schema, table.schema);
        assert_eq!(back.concat().unwrap(), table.concat().unwrap());
    }
}
