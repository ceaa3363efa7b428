//! Loads the target's catalog (function volatility, views) once per
//! connection and keeps it for a while, so `sql.read_only` can be sound.

use crate::backend::{self, UpstreamConfig};
use crate::protocol::{MessageReader, MessageWriter, next_frame, parse_error_fields};
use crate::stream::PgStream;
use bytes::BytesMut;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vigil_sql::Catalog;

/// A catalog older than this is loaded again: by the next login, and in the
/// background by the next statement of an open session. A view or function
/// changed outside the gateway is seen within this time (see the security
/// guide); one changed through the gateway at once.
const REFRESH_AFTER: Duration = Duration::from_secs(30);

/// When the catalog was loaded, and the catalog.
type Slot = Option<(Instant, Arc<Catalog>)>;

/// One connection's catalog: looked up by every statement of every session
/// of that connection, so the hot path is one uncontended lock and an `Arc`
/// clone, with no name to hash.
#[derive(Default, Clone)]
pub struct CatalogCache {
    slot: Arc<Mutex<Slot>>,
    /// One load at a time, so a burst of logins opens one extra connection.
    loading: Arc<tokio::sync::Mutex<()>>,
}

/// Where a session's catalog comes from, so each statement is analysed
/// with the latest one.
#[derive(Clone)]
pub struct CatalogSource {
    pub cache: CatalogCache,
    /// The connection's name, for the log.
    pub connection: String,
    pub upstream: Arc<UpstreamConfig>,
}

impl CatalogSource {
    /// The catalog to analyse the next statement with: the cached one (a
    /// stale one is reloaded in the background meanwhile), or, after DDL
    /// dropped it, one loaded now.
    pub async fn current(&self) -> Arc<Catalog> {
        match self.cache.latest() {
            Some((catalog, fresh)) => {
                if !fresh {
                    self.cache
                        .refresh_in_background(&self.connection, self.upstream.clone());
                }
                catalog
            }
            None => self.login_catalog().await,
        }
    }

    /// The catalog as a fresh login must see it: the cached one while it is
    /// fresh, else loaded now.
    pub async fn login_catalog(&self) -> Arc<Catalog> {
        self.cache
            .get_or_load(&self.connection, &self.upstream)
            .await
    }

    /// Forgets the catalog (the schema changed): the next statement of any
    /// session, or the next login, loads it again.
    pub fn invalidate(&self) {
        if let Ok(mut slot) = self.cache.slot.lock() {
            *slot = None;
        }
    }
}

impl CatalogCache {
    fn cached(&self) -> Option<Arc<Catalog>> {
        self.latest()
            .and_then(|(catalog, fresh)| fresh.then_some(catalog))
    }

    /// The cached catalog and whether it is still fresh.
    fn latest(&self) -> Option<(Arc<Catalog>, bool)> {
        let slot = self.slot.lock().ok()?;
        let (at, catalog) = slot.as_ref()?;
        Some((catalog.clone(), at.elapsed() < REFRESH_AFTER))
    }

    /// Loads the catalog again unless a load is under way.
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

    /// The cached catalog, or loads it over a connection of the gateway's
    /// own: the client's session may carry settings (a role's defaults, a
    /// search_path) that change what the catalog query reads, and Vigil's
    /// login fixes the encoding and string syntax.
    async fn get_or_load(&self, connection: &str, upstream: &UpstreamConfig) -> Arc<Catalog> {
        if let Some(catalog) = self.cached() {
            return catalog;
        }
        let _loading = self.loading.lock().await;
        if let Some(catalog) = self.cached() {
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
                if let Ok(mut slot) = self.slot.lock() {
                    *slot = Some((Instant::now(), catalog.clone()));
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
