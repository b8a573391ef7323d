//! The object stores a scheduler and its executors read a model's inputs from.
//!
//! Rules it keeps: like the store's own client, a bucket's credentials and endpoint come from
//! the process's environment (`AWS_*`, `GOOGLE_*`, `AZURE_*`), never from a query or a session's
//! settings, so no secret travels with a plan; one client per bucket, built on first use;
//! `file://` is the local disk (a folder every executor mounts).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::error::DataFusionError;
use datafusion::execution::object_store::ObjectStoreRegistry;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use url::Url;

use crate::remote::{RemoteUrl, Timeouts};

/// Object stores by bucket, configured from the environment.
#[derive(Debug, Default)]
pub(crate) struct EnvStores {
    buckets: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl EnvStores {
    /// The client for `scheme://bucket`, built on first use.
    fn bucket_store(
        &self,
        scheme: &str,
        bucket: &str,
    ) -> Result<Arc<dyn ObjectStore>, DataFusionError> {
        let key = format!("{scheme}://{bucket}");
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(store) = buckets.get(&key) {
            return Ok(Arc::clone(store));
        }
        let url = RemoteUrl::parse(&key)
            .map_err(|problem| DataFusionError::Configuration(format!("{key}: {problem}")))?;
        let store = url
            .client(Timeouts::default())
            .map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?;
        buckets.insert(key, Arc::clone(&store));
        Ok(store)
    }
}

impl ObjectStoreRegistry for EnvStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        let key = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, store)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>, DataFusionError> {
        match url.scheme() {
            "" | "file" => Ok(Arc::new(LocalFileSystem::new())),
            scheme @ ("s3" | "s3a" | "gs" | "az" | "abfs" | "abfss") => {
                let bucket = url.host_str().ok_or_else(|| {
                    DataFusionError::Configuration(format!("{url} names no bucket"))
                })?;
                self.bucket_store(scheme, bucket)
            }
            scheme => Err(DataFusionError::Configuration(format!(
                "{url}: winebuild's executors read s3://, gs://, az:// and file:// objects, not {scheme}://"
            ))),
        }
    }
}
