//! Loads the target's catalog (function volatility, views) once per
//! connection and keeps it for a while, so `sql.read_only` can be sound.

use crate::backend::{self, UpstreamConfig};
use crate::protocol::{MessageReader, MessageWriter, next_frame, parse_error_fields};
use crate::stream::PgStream;
use bytes::BytesMut;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vigil_sql::Catalog;

/// A catalog older than this is loaded again by the next session.
const REFRESH_AFTER: Duration = Duration::from_secs(300);

/// When each connection's catalog was loaded, and the catalog.
type Entries = HashMap<String, (Instant, Arc<Catalog>)>;

#[derive(Default, Clone)]
pub struct CatalogCache {
    entries: Arc<Mutex<Entries>>,
    /// One load at a time, so a burst of logins opens one extra connection.
    loading: Arc<tokio::sync::Mutex<()>>,
}

impl CatalogCache {
    fn cached(&self, connection: &str) -> Option<Arc<Catalog>> {
        let map = self.entries.lock().ok()?;
        let (at, catalog) = map.get(connection)?;
        (at.elapsed() < REFRESH_AFTER).then(|| catalog.clone())
    }

    /// Forgets `connection`'s catalog (its schema changed): the next
    /// session loads it again. Open sessions keep theirs, in which new
    /// relations are unknown and so not read-only (fail closed).
    pub fn invalidate(&self, connection: &str) {
        if let Ok(mut map) = self.entries.lock() {
            map.remove(connection);
        }
    }

    /// The cached catalog of `connection`, or loads it over a connection of
    /// the gateway's own: the client's session may carry settings (a role's
    /// defaults, a search_path) that change what the catalog query reads,
    /// and Vigil's login fixes the encoding and string syntax.
    pub async fn get_or_load(&self, connection: &str, upstream: &UpstreamConfig) -> Arc<Catalog> {
        if let Some(catalog) = self.cached(connection) {
            return catalog;
        }
        let _loading = self.loading.lock().await;
        if let Some(catalog) = self.cached(connection) {
            return catalog;
        }
        let loaded = match backend::connect(upstream, &[]).await {
            Ok(mut up) => {
                let loaded = load(&mut up.stream).await;
                let mut w = MessageWriter::new();
                w.terminate();
                let _ = up.stream.write_all(&w.take()).await;
                let _ = up.stream.shutdown().await;
                loaded
            }
            Err(e) => Err(e.to_string()),
        };
        match loaded {
            Ok(catalog) => {
                let catalog = Arc::new(catalog);
                if let Ok(mut map) = self.entries.lock() {
                    map.insert(connection.to_string(), (Instant::now(), catalog.clone()));
                }
                catalog
            }
            Err(e) => {
                // Not cached: the next session tries again. Until then every
                // statement that depends on the catalog is refused
                // (`AnalysisError::CatalogNotLoaded`): fail closed.
                tracing::warn!(connection, error = %e, "could not load the target's catalog");
                Arc::new(Catalog::unloaded())
            }
        }
    }
}

async fn load(stream: &mut PgStream) -> Result<Catalog, String> {
    let mut w = MessageWriter::new();
    w.query(Catalog::LOAD_QUERY);
    stream
        .write_all(&w.take())
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut rows = Vec::new();
    let mut error = None;
    loop {
        let Some((tag, msg)) = next_frame(&mut buf, 64 << 20).map_err(|e| e.to_string())? else {
            if stream.read_buf(&mut buf).await.map_err(|e| e.to_string())? == 0 {
                return Err("target closed the connection".into());
            }
            continue;
        };
        match tag {
            b'D' => {
                let mut r = MessageReader::new(&msg, "DataRow");
                let n = r.i16().map_err(|e| e.to_string())?;
                let mut row = Vec::with_capacity(n.max(0) as usize);
                for _ in 0..n {
                    let len = r.i32().map_err(|e| e.to_string())?;
                    if len < 0 {
                        row.push(None);
                    } else {
                        let v = r.take(len as usize).map_err(|e| e.to_string())?;
                        row.push(Some(String::from_utf8_lossy(v).into_owned()));
                    }
                }
                rows.push(row);
            }
            b'E' => {
                error = Some(
                    parse_error_fields(&msg)
                        .map(|f| f.message)
                        .unwrap_or_default(),
                )
            }
            b'Z' => break,
            _ => {}
        }
    }
    if let Some(e) = error {
        return Err(e);
    }
    Catalog::from_rows(rows).map_err(|e| e.to_string())
}
