//! An in-memory Arrow table and its one on-disk encoding, Parquet.
//!
//! Every stage output travels as a [`Table`]; the store keeps it as Parquet bytes. Rules it keeps:
//! - encoding is deterministic: the same table always gives the same bytes (fixed writer settings,
//!   no timestamps), so content hashes are stable and early cutoff works;
//! - decoding never trusts the bytes' origin: errors are returned, never panics.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use serde::{Deserialize, Serialize};

/// A schema and its record batches.
#[derive(Debug, Clone)]
pub struct Table {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

/// One column's name and Arrow type, as shown to people and kept in records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
}

impl Table {
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> Table {
        Table { schema, batches }
    }

    pub fn empty(schema: Schema) -> Table {
        Table::new(Arc::new(schema), Vec::new())
    }

    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }

    pub fn columns(&self) -> Vec<ColumnInfo> {
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
    pub fn concat(&self) -> Result<RecordBatch, arrow::error::ArrowError> {
        arrow::compute::concat_batches(&self.schema, &self.batches)
    }

    /// Encodes the table as Parquet with fixed settings, so equal tables give equal bytes.
    pub fn to_parquet(&self) -> Result<Vec<u8>, parquet::errors::ParquetError> {
        // Objects are read whole, never filtered: statistics would cost time for nothing, and
        // dictionaries rarely pay on the wide text columns (titles, excerpts, urls), while snappy
        // still shrinks the repetitive ones.
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_dictionary_enabled(false)
            .set_statistics_enabled(EnabledStatistics::None)
            .set_created_by("winebuild".to_string())
            .build();
        let mut bytes = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut bytes, self.schema.clone(), Some(properties))?;
        for batch in &self.batches {
            if batch.num_rows() > 0 {
                writer.write(batch)?;
            }
        }
        writer.close()?;
        Ok(bytes)
    }

    pub fn from_parquet(bytes: Vec<u8>) -> Result<Table, parquet::errors::ParquetError> {
        Table::from_parquet_in_batches_of(bytes, 64 * 1024)
    }

    /// Like [`Table::from_parquet`], with batches of up to `rows` rows (one batch per row group
    /// when `rows` is large: what a reader that wants whole columns asks for).
    pub fn from_parquet_in_batches_of(
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
