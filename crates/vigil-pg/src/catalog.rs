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

/// A catalog older than this is loaded again: by the next login, and in the
/// background by the next statement of an open session. A view or function
/// changed outside the gateway is seen within this time (see the security
/// guide); one changed through the gateway at once.
const REFRESH_AFTER: Duration = Duration::from_secs(30);

/// When each connection's catalog was loaded, and the catalog.
type Entries = HashMap<String, (Instant, Arc<Catalog>)>;

#[derive(Default, Clone)]
pub struct CatalogCache {
    entries: Arc<Mutex<Entries>>,
    /// One load at a time, so a burst of logins opens one extra connection.
    loading: Arc<tokio::sync::Mutex<()>>,
}

/// Where a session's catalog comes from, so each statement is analysed
/// with the latest one.
#[derive(Clone)]
pub struct CatalogSource {
    pub cache: CatalogCache,
    pub connection: String,
    pub upstream: Arc<UpstreamConfig>,
}

impl CatalogSource {
    /// The catalog to analyse the next statement with: the cached one (a
    /// stale one is reloaded in the background meanwhile), or, after DDL
    /// dropped it, one loaded now.
    pub async fn current(&self) -> Arc<Catalog> {
        match self.cache.latest(&self.connection) {
            Some((catalog, fresh)) => {
                if !fresh {
                    self.cache
                        .refresh_in_background(&self.connection, self.upstream.clone());
                }
                catalog
            }
            None => {
                self.cache
                    .get_or_load(&self.connection, &self.upstream)
                    .await
            }
        }
    }
}

impl CatalogCache {
    fn cached(&self, connection: &str) -> Option<Arc<Catalog>> {
        self.latest(connection)
            .and_then(|(catalog, fresh)| fresh.then_some(catalog))
    }

    /// The cached catalog and whether it is still fresh.
    fn latest(&self, connection: &str) -> Option<(Arc<Catalog>, bool)> {
        let map = self.entries.lock().ok()?;
        let (at, catalog) = map.get(connection)?;
        Some((catalog.clone(), at.elapsed() < REFRESH_AFTER))
    }

    /// Loads `connection`'s catalog again unless a load is under way.
    fn refresh_in_background(&self, connection: &str, upstream: Arc<UpstreamConfig>) {
        let Ok(guard) = self.loading.clone().try_lock_owned() else {
            return;
        };
        let this = self.clone();
        let connection = connection.to_string();
        tokio::spawn(async move {
            this.load_now(&connection, &upstream).await;
            drop(guard);
        });
    }

    /// Forgets `connection`'s catalog (its schema changed): the next
    /// statement of any session, or the next login, loads it again.
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
        self.load_now(connection, upstream).await
    }

    /// Loads and caches the catalog (the caller holds `loading`).
    async fn load_now(&self, connection: &str, upstream: &UpstreamConfig) -> Arc<Catalog> {
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
