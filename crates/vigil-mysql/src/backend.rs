//! The upstream side: Vigil logs in to the target with the connection's own
//! credential (`mysql_native_password`; the password never leaves this
//! module), then reads the session state analysis depends on.

use crate::error::{MysqlError, Result};
use crate::handshake::{Greeting, Response, native_password};
use crate::packet::{Reader, frame};
use crate::wire::{Cursor, Head, cap, err_code, head};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use vigil_core::Secret;
use vigil_mysql_sql::{LexMode, Target, charset_reproduced};

/// The largest packet Vigil accepts from the target (a row, a column).
pub const MAX_UPSTREAM_PACKET: usize = 1 << 30;

/// One MySQL connection's target and credential.
#[derive(Clone, Debug)]
pub struct UpstreamConfig {
    pub address: String,
    pub database: String,
    pub user: String,
    pub password: Option<Secret<String>>,
}

/// A logged-in target connection.
pub struct Upstream {
    pub io: TcpStream,
    pub reader: Reader,
    pub greeting: Greeting,
    pub target: Target,
    /// Capabilities in force between Vigil and the target.
    pub capabilities: u32,
}

/// What Vigil asks of every target, whatever the client asked: no
/// compression, no LOCAL INFILE, no DEPRECATE_EOF, no session tracking.
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
    let mut io = TcpStream::connect(&cfg.address).await?;
    let _ = io.set_nodelay(true);
    let mut reader = Reader::default();
    let hello = reader
        .read(&mut io, 64 * 1024, false)
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
    let needed = cap::PROTOCOL_41 | cap::SECURE_CONNECTION | cap::PLUGIN_AUTH;
    if greeting.capabilities & needed != needed {
        return Err(MysqlError::Login(
            "the target is too old (no protocol 4.1 auth)".into(),
        ));
    }
    let capabilities = (BASE | (client_caps & PASSED)) & greeting.capabilities;
    let password = cfg
        .password
        .as_ref()
        .map(|p| p.expose().as_bytes().to_vec())
        .unwrap_or_default();
    let auth = match greeting.plugin.as_str() {
        "mysql_native_password" | "" => native_password(&password, &greeting.salt),
        // Answer with the native method; the target switches if it must.
        _ => native_password(&password, &greeting.salt),
    };
    let response = Response {
        capabilities,
        max_packet: 1 << 30,
        charset,
        user: cfg.user.clone(),
        auth,
        database: Some(cfg.database.clone()),
        plugin: Some("mysql_native_password".into()),
        ..Response::default()
    };
    let mut seq = hello.last_seq.wrapping_add(1);
    send(&mut io, &mut seq, &response.encode()).await?;
    loop {
        let answer = reader
            .read(&mut io, 64 * 1024, false)
            .await?
            .ok_or_else(|| MysqlError::Login("the target closed the connection".into()))?;
        seq = answer.last_seq.wrapping_add(1);
        match answer.payload.first() {
            Some(0x00) => break,
            Some(0xFF) => {
                let (code, state) = err_code(&answer.payload);
                return Err(MysqlError::Login(format!(
                    "the target refused Vigil's credential (error {code}, {state})"
                )));
            }
            Some(0xFE) => {
                // Auth switch: only to mysql_native_password.
                let mut c = Cursor::new(&answer.payload[1..]);
                let plugin = c.cstr().map(|p| String::from_utf8_lossy(p).into_owned());
                let salt = c.rest();
                let salt = salt.strip_suffix(&[0]).unwrap_or(salt);
                match plugin.as_deref() {
                    Some("mysql_native_password") => {
                        send(&mut io, &mut seq, &native_password(&password, salt)).await?;
                    }
                    other => {
                        return Err(MysqlError::Login(format!(
                            "the target asks for authentication method {:?}, which Vigil does not answer",
                            other.unwrap_or_default()
                        )));
                    }
                }
            }
            _ => {
                return Err(MysqlError::Login(
                    "the target asked for an authentication step Vigil does not answer".into(),
                ));
            }
        }
    }
    let target = Target::from_server_version(&greeting.server_version);
    Ok(Upstream {
        io,
        reader,
        greeting,
        target,
        capabilities,
    })
}

async fn send(io: &mut TcpStream, seq: &mut u8, payload: &[u8]) -> Result<()> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    frame(&mut out, seq, payload);
    io.write_all(&out).await?;
    Ok(())
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
