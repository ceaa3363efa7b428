//! The upstream side: Vigil logs in to the target with the connection's own
//! credential (the password never leaves this module and the login
//! conversation), over TLS when the connection asks for it, then reads the
//! session state analysis depends on.

use crate::error::{MysqlError, Result};
use crate::handshake::{Greeting, Response};
use crate::packet::Reader;
use crate::upstream_login::{Conversation, first_answer, send};
use crate::wire::{Cursor, Head, cap, err_code, head};
use tokio::net::TcpStream;
use vigil_core::Secret;
use vigil_mysql_sql::{LexMode, Target, charset_reproduced};

pub use crate::upstream_login::Flavor;
pub use crate::upstream_tls::{UpstreamStream, UpstreamTls};

/// The largest packet Vigil accepts from the target (a row, a column).
pub const MAX_UPSTREAM_PACKET: usize = 1 << 30;

/// One MySQL connection's target and credential.
#[derive(Clone, Debug, Default)]
pub struct UpstreamConfig {
    pub address: String,
    pub database: String,
    pub user: String,
    pub password: Option<Secret<String>>,
    /// TLS towards the target (default: none).
    pub tls: UpstreamTls,
    /// `None`: read from the greeting's version string.
    pub flavor: Option<Flavor>,
    /// Vigil's greeting may announce this target's version (see
    /// `crate::announce`).
    pub mirror_version: bool,
}

/// A logged-in target connection.
pub struct Upstream {
    pub io: UpstreamStream,
    pub reader: Reader,
    pub greeting: Greeting,
    pub target: Target,
    /// Capabilities in force between Vigil and the target.
    pub capabilities: u32,
}

/// What Vigil asks of every target, whatever the client asked: no
/// compression, no LOCAL INFILE, no session tracking, and no DEPRECATE_EOF
/// (Vigil's parsers and its own queries read one form of answer; a client
/// that negotiated DEPRECATE_EOF gets its form from `client_out`).
const BASE: u32 = cap::LONG_PASSWORD
    | cap::LONG_FLAG
    | cap::PROTOCOL_41
    | cap::TRANSACTIONS
    | cap::SECURE_CONNECTION
    | cap::MULTI_RESULTS
    | cap::PS_MULTI_RESULTS
    | cap::PLUGIN_AUTH
    | cap::PLUGIN_AUTH_LENENC
    | cap::CONNECT_WITH_DB;

/// Client capabilities passed on to the target when it offers them.
pub const PASSED: u32 = cap::FOUND_ROWS | cap::MULTI_STATEMENTS | cap::INTERACTIVE;

/// Connects and logs in; `client_caps` (masked by [`PASSED`]) are added.
pub async fn connect(cfg: &UpstreamConfig, client_caps: u32, charset: u8) -> Result<Upstream> {
    let mut tcp = TcpStream::connect(&cfg.address).await?;
    let _ = tcp.set_nodelay(true);
    let mut reader = Reader::default();
    let (greeting, hello_seq) = read_greeting(&mut tcp, &mut reader).await?;
    let needed = cap::PROTOCOL_41 | cap::SECURE_CONNECTION | cap::PLUGIN_AUTH;
    if greeting.capabilities & needed != needed {
        return Err(MysqlError::Login(
            "the target is too old (no protocol 4.1 auth)".into(),
        ));
    }
    let mut capabilities = (BASE | (client_caps & PASSED)) & greeting.capabilities;
    let mut seq = hello_seq.wrapping_add(1);
    let offered = greeting.capabilities & cap::SSL != 0;
    let mut io = if cfg.tls == UpstreamTls::Disable || (cfg.tls == UpstreamTls::Prefer && !offered)
    {
        UpstreamStream::Plain(tcp)
    } else {
        if !offered {
            return Err(MysqlError::Login(
                "the target does not offer TLS, and the connection's tls mode requires it".into(),
            ));
        }
        capabilities |= cap::SSL;
        send(&mut tcp, &mut seq, &ssl_request(capabilities, charset)).await?;
        if reader.has_buffered() {
            return Err(MysqlError::Login(
                "the target sent data before the TLS handshake".into(),
            ));
        }
        crate::upstream_tls::start(tcp, &cfg.tls, &cfg.address).await?
    };
    let flavor = cfg
        .flavor
        .unwrap_or_else(|| Flavor::from_version(&greeting.server_version));
    let password = cfg
        .password
        .as_ref()
        .map(|p| p.expose().as_bytes())
        .unwrap_or_default();
    let (plugin, auth) = first_answer(flavor, &greeting.plugin, password, &greeting.salt);
    let response = Response {
        capabilities,
        max_packet: 1 << 30,
        charset,
        user: cfg.user.clone(),
        auth,
        database: Some(cfg.database.clone()),
        plugin: Some(plugin.clone()),
        ..Response::default()
    };
    send(&mut io, &mut seq, &response.encode()).await?;
    Conversation {
        flavor,
        password,
        tls: io.is_tls(),
        plugin,
        nonce: greeting.salt.clone(),
    }
    .run(&mut io, &mut reader)
    .await?;
    let target = Target::from_server_version(&greeting.server_version);
    Ok(Upstream {
        io,
        reader,
        greeting,
        target,
        capabilities,
    })
}

/// The target's greeting, read without logging in (what it announces
/// itself as).
pub async fn greeting(cfg: &UpstreamConfig) -> Result<Greeting> {
    let mut tcp = TcpStream::connect(&cfg.address).await?;
    let (greeting, _) = read_greeting(&mut tcp, &mut Reader::default()).await?;
    Ok(greeting)
}

/// The greeting and its sequence id; an ERR in its place is the target
/// refusing the connection.
async fn read_greeting(tcp: &mut TcpStream, reader: &mut Reader) -> Result<(Greeting, u8)> {
    let hello = reader
        .read(tcp, 64 * 1024, false)
        .await?
        .ok_or_else(|| MysqlError::Login("the target closed the connection".into()))?;
    if head(&hello.payload) == Head::Err {
        let (code, _) = err_code(&hello.payload);
        return Err(MysqlError::Login(format!(
            "the target refused the connection ({code})"
        )));
    }
    let greeting = Greeting::decode(&hello.payload).ok_or_else(|| {
        MysqlError::Login("the target's greeting is not MySQL protocol 10".into())
    })?;
    Ok((greeting, hello.last_seq))
}

/// The SSL request: the handshake response's first 32 bytes.
fn ssl_request(capabilities: u32, charset: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    out.extend_from_slice(&capabilities.to_le_bytes());
    out.extend_from_slice(&(1u32 << 30).to_le_bytes());
    out.push(charset);
    out.extend_from_slice(&[0; 23]);
    out
}

/// The session state statements are analysed under, as the target reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionState {
    pub database: Option<String>,
    /// `Err`: the target lexes text in a way Vigil does not reproduce.
    pub mode: std::result::Result<LexMode, String>,
}

/// Asks the target for the current database, `sql_mode` and client
/// character set: Vigil's own statement, never a client's.
pub async fn read_state(up: &mut Upstream) -> Result<SessionState> {
    let rows = simple_query(
        up,
        b"SELECT DATABASE(), @@SESSION.sql_mode, @@SESSION.character_set_client",
    )
    .await?;
    let row = rows
        .into_iter()
        .next()
        .ok_or_else(|| MysqlError::Upstream("no session state row".into()))?;
    let get = |i: usize| row.get(i).cloned().flatten();
    let database = get(0);
    let sql_mode = get(1).unwrap_or_default();
    let charset = get(2).unwrap_or_default();
    let mode = if !charset_reproduced(&charset) {
        Err(format!(
            "the client character set {} (Vigil reads statements as UTF-8)",
            charset.chars().take(32).collect::<String>()
        ))
    } else {
        LexMode::from_sql_mode(&sql_mode).map_err(|e| e.to_string())
    };
    Ok(SessionState { database, mode })
}

/// The most base tables read for masking; past it no source is proven.
const MAX_BASE_TABLES: usize = 100_000;

/// `(schema, table)` of every base table the login sees, lower-cased.
pub type BaseTables = std::collections::HashSet<(String, String)>;

/// The target's base tables, for a session with column mask rules: a mask
/// rule names a base table's column, and a view (or anything else) read by
/// a statement may show that column under another name, so a source that
/// is not a known base table is never proven. `None` when there are too
/// many to keep (then no source is proven: every column with a possible
/// rule is masked whole).
pub async fn read_base_tables(up: &mut Upstream) -> Result<Option<BaseTables>> {
    let sql = format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES \
         WHERE TABLE_TYPE = 'BASE TABLE' LIMIT {}",
        MAX_BASE_TABLES + 1
    );
    let rows = simple_query(up, sql.as_bytes()).await?;
    if rows.len() > MAX_BASE_TABLES {
        return Ok(None);
    }
    Ok(Some(
        rows.into_iter()
            .filter_map(|r| {
                let mut it = r.into_iter();
                let schema = it.next().flatten()?;
                let table = it.next().flatten()?;
                Some((schema.to_lowercase(), table.to_lowercase()))
            })
            .collect(),
    ))
}

/// Runs Vigil's own text query and returns its rows as text.
pub async fn simple_query(up: &mut Upstream, sql: &[u8]) -> Result<Vec<Vec<Option<String>>>> {
    let mut payload = Vec::with_capacity(sql.len() + 1);
    payload.push(0x03);
    payload.extend_from_slice(sql);
    let mut seq = 0;
    send(&mut up.io, &mut seq, &payload).await?;
    let first = next(up).await?;
    match head(&first) {
        Head::Err => {
            let (code, state) = err_code(&first);
            return Err(MysqlError::Upstream(format!(
                "Vigil's query failed ({code}, {state})"
            )));
        }
        Head::Ok => return Ok(Vec::new()),
        _ => {}
    }
    let columns = Cursor::new(&first)
        .lenenc()
        .flatten()
        .ok_or_else(|| MysqlError::Upstream("bad column count".into()))?;
    for _ in 0..columns {
        next(up).await?;
    }
    if head(&next(up).await?) != Head::Eof {
        return Err(MysqlError::Upstream("expected EOF after columns".into()));
    }
    let mut rows = Vec::new();
    loop {
        let p = next(up).await?;
        match head(&p) {
            Head::Eof => return Ok(rows),
            Head::Err => return Err(MysqlError::Upstream("Vigil's query failed".into())),
            _ => {
                let mut c = Cursor::new(&p);
                let mut row = Vec::new();
                for _ in 0..columns {
                    let v = c
                        .lenenc_str()
                        .ok_or_else(|| MysqlError::Upstream("bad row".into()))?;
                    row.push(v.map(|b| String::from_utf8_lossy(b).into_owned()));
                }
                rows.push(row);
            }
        }
    }
}

async fn next(up: &mut Upstream) -> Result<Vec<u8>> {
    up.reader
        .read(&mut up.io, MAX_UPSTREAM_PACKET, false)
        .await?
        .map(|p| p.payload)
        .ok_or_else(|| MysqlError::Upstream("the target closed the connection".into()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#[path = "backend_tests.rs"]
mod tests;
