//! SFTP (version 3, as OpenSSH speaks it) framing and request parsing, pure
//! and bounded: what each client request does (`ssh.sftp.op`) and to which
//! path (`ssh.sftp.path`), and the status answer Vigil sends for a refused
//! one. Fuzzed by `crates/vigil-ssh/fuzz` (`sftp_requests`).

/// Largest SFTP packet accepted in either direction. OpenSSH's own limit
/// is 256 KiB; a larger length ends the channel.
pub const MAX_PACKET: usize = 256 * 1024 + 1024;
/// Longest path kept for policy and the ledger.
const MAX_PATH: usize = 4096;

/// `SSH_FX_PERMISSION_DENIED`.
pub const FX_PERMISSION_DENIED: u32 = 3;
/// `SSH_FX_FAILURE`.
pub const FX_FAILURE: u32 = 4;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SftpError {
    #[error("sftp packet of {0} bytes is larger than the limit")]
    TooLarge(usize),
    #[error("malformed sftp packet")]
    Malformed,
}

/// Splits a byte stream into SFTP packets (each returned with its length prefix).
#[derive(Default)]
pub struct Framer {
    buf: Vec<u8>,
}

impl Framer {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole packet, `None` until one is complete.
    pub fn next_packet(&mut self) -> Result<Option<Vec<u8>>, SftpError> {
        let Some(len) = self.buf.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if len == 0 {
            return Err(SftpError::Malformed);
        }
        if len > MAX_PACKET {
            return Err(SftpError::TooLarge(len));
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let rest = self.buf.split_off(4 + len);
        Ok(Some(std::mem::replace(&mut self.buf, rest)))
    }
}

/// What a client request does, as policy sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The request id (`None` for `SSH_FXP_INIT`).
    pub id: Option<u32>,
    pub op: Op,
    /// The path the request names (`old -> new` for a rename or link).
    pub path: String,
}

/// An SFTP operation. `as_str` is the `ssh.sftp.op` name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Init,
    OpenRead,
    OpenWrite,
    Read,
    Write,
    Stat,
    Lstat,
    Fstat,
    Setstat,
    Opendir,
    Readdir,
    Close,
    Remove,
    Rename,
    Mkdir,
    Rmdir,
    Realpath,
    Readlink,
    Symlink,
    /// An extension Vigil does not know: treated as a write.
    Extended,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Init => "init",
            Op::OpenRead => "open_read",
            Op::OpenWrite => "open_write",
            Op::Read => "read",
            Op::Write => "write",
            Op::Stat => "stat",
            Op::Lstat => "lstat",
            Op::Fstat => "fstat",
            Op::Setstat => "setstat",
            Op::Opendir => "opendir",
            Op::Readdir => "readdir",
            Op::Close => "close",
            Op::Remove => "remove",
            Op::Rename => "rename",
            Op::Mkdir => "mkdir",
            Op::Rmdir => "rmdir",
            Op::Realpath => "realpath",
            Op::Readlink => "readlink",
            Op::Symlink => "symlink",
            Op::Extended => "extended",
        }
    }

    /// Operations that change nothing on the target.
    pub fn reads(self) -> bool {
        matches!(
            self,
            Op::Init
                | Op::OpenRead
                | Op::Read
                | Op::Stat
                | Op::Lstat
                | Op::Fstat
                | Op::Opendir
                | Op::Readdir
                | Op::Close
                | Op::Realpath
                | Op::Readlink
        )
    }

    /// Operations on an open handle: they follow the decision that opened
    /// it and are not decided one by one (a download is thousands of reads).
    pub fn on_handle(self) -> bool {
        matches!(
            self,
            Op::Read | Op::Readdir | Op::Close | Op::Fstat | Op::Init
        )
    }
}

/// SSH_FXF_READ: the only open flag that changes nothing.
const FXF_READ: u32 = 0x1;

/// Parses one client packet (with its length prefix).
pub fn parse_request(packet: &[u8]) -> Result<Request, SftpError> {
    let mut r = Reader {
        buf: packet.get(4..).ok_or(SftpError::Malformed)?,
    };
    let kind = r.u8()?;
    if kind == 1 {
        return Ok(Request {
            id: None,
            op: Op::Init,
            path: String::new(),
        });
    }
    let id = r.u32()?;
    let (op, path) = match kind {
        3 => {
            let path = r.path()?;
            let flags = r.u32()?;
            (
                if flags & !FXF_READ == 0 {
                    Op::OpenRead
                } else {
                    Op::OpenWrite
                },
                path,
            )
        }
        4 => (Op::Close, String::new()),
        5 => (Op::Read, String::new()),
        6 => (Op::Write, String::new()),
        7 => (Op::Lstat, r.path()?),
        8 => (Op::Fstat, String::new()),
        9 => (Op::Setstat, r.path()?),
        10 => (Op::Setstat, String::new()),
        11 => (Op::Opendir, r.path()?),
        12 => (Op::Readdir, String::new()),
        13 => (Op::Remove, r.path()?),
        14 => (Op::Mkdir, r.path()?),
        15 => (Op::Rmdir, r.path()?),
        16 => (Op::Realpath, r.path()?),
        17 => (Op::Stat, r.path()?),
        18 => {
            let from = r.path()?;
            let to = r.path()?;
            (Op::Rename, format!("{from} -> {to}"))
        }
        19 => (Op::Readlink, r.path()?),
        20 => {
            let link = r.path()?;
            let target = r.path()?;
            (Op::Symlink, format!("{link} -> {target}"))
        }
        200 => extended(&mut r)?,
        _ => (Op::Extended, format!("request type {kind}")),
    };
    Ok(Request {
        id: Some(id),
        op,
        path,
    })
}

/// OpenSSH's extensions, by what they do.
fn extended(r: &mut Reader<'_>) -> Result<(Op, String), SftpError> {
    let name = r.path()?;
    Ok(match name.as_str() {
        "posix-rename@openssh.com" => {
            let from = r.path()?;
            let to = r.path()?;
            (Op::Rename, format!("{from} -> {to}"))
        }
        "hardlink@openssh.com" => {
            let from = r.path()?;
            let to = r.path()?;
            (Op::Symlink, format!("{from} -> {to}"))
        }
        "lsetstat@openssh.com" => (Op::Setstat, r.path()?),
        "statvfs@openssh.com" | "expand-path@openssh.com" => (Op::Stat, r.path()?),
        "limits@openssh.com" | "home-directory" | "fstatvfs@openssh.com" => {
            (Op::Stat, String::new())
        }
        _ => (Op::Extended, name),
    })
}

/// `SSH_FXP_STATUS` answering request `id`.
pub fn status_packet(id: u32, code: u32, message: &str) -> Vec<u8> {
    let message = &message.as_bytes()[..message.len().min(1024)];
    let mut body = Vec::with_capacity(32 + message.len());
    body.push(101);
    body.extend_from_slice(&id.to_be_bytes());
    body.extend_from_slice(&code.to_be_bytes());
    body.extend_from_slice(&(message.len() as u32).to_be_bytes());
    body.extend_from_slice(message);
    body.extend_from_slice(&2u32.to_be_bytes());
    body.extend_from_slice(b"en");
    let mut packet = (body.len() as u32).to_be_bytes().to_vec();
    packet.extend_from_slice(&body);
    packet
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], SftpError> {
        if self.buf.len() < n {
            return Err(SftpError::Malformed);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, SftpError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, SftpError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A string, as text (invalid UTF-8 replaced), cut to [`MAX_PATH`].
    fn path(&mut self) -> Result<String, SftpError> {
        let len = self.u32()? as usize;
        let bytes = self.take(len)?;
        let kept = &bytes[..bytes.len().min(MAX_PATH)];
        Ok(String::from_utf8_lossy(kept).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(kind: u8, id: u32, fields: &[&[u8]], tail: &[u8]) -> Vec<u8> {
        let mut body = vec![kind];
        body.extend_from_slice(&id.to_be_bytes());
        for f in fields {
            body.extend_from_slice(&(f.len() as u32).to_be_bytes());
            body.extend_from_slice(f);
        }
        body.extend_from_slice(tail);
        let mut p = (body.len() as u32).to_be_bytes().to_vec();
        p.extend_from_slice(&body);
        p
    }

    #[test]
    fn requests_are_classed_by_what_they_do() {
        let open_read = packet(3, 7, &[b"/etc/hosts"], &[0, 0, 0, 1, 0, 0, 0, 0]);
        let r = parse_request(&open_read).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (r.id, r.op, r.path.as_str()),
            (Some(7), Op::OpenRead, "/etc/hosts")
        );
        let open_write = packet(3, 8, &[b"/tmp/x"], &[0, 0, 0, 0x1a, 0, 0, 0, 0]);
        assert_eq!(parse_request(&open_write).map(|r| r.op), Ok(Op::OpenWrite));
        let rename = packet(18, 9, &[b"a", b"b"], &[]);
        assert_eq!(
            parse_request(&rename).map(|r| r.path),
            Ok("a -> b".to_string())
        );
        let ext = packet(200, 10, &[b"posix-rename@openssh.com", b"a", b"b"], &[]);
        assert_eq!(parse_request(&ext).map(|r| r.op), Ok(Op::Rename));
        let unknown = packet(200, 11, &[b"copy-data"], &[]);
        assert_eq!(parse_request(&unknown).map(|r| r.op), Ok(Op::Extended));
        assert!(!Op::Extended.reads() && !Op::OpenWrite.reads() && Op::OpenRead.reads());
    }

    #[test]
    fn truncated_and_oversized_packets_are_errors() {
        let mut f = Framer::default();
        f.push(&[0, 0, 0, 5, 17, 0]);
        assert_eq!(f.next_packet(), Ok(None));
        f.push(&[0, 0, 1]);
        let p = f
            .next_packet()
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_default();
        assert_eq!(parse_request(&p), Err(SftpError::Malformed));
        let mut f = Framer::default();
        f.push(&u32::MAX.to_be_bytes());
        assert!(matches!(f.next_packet(), Err(SftpError::TooLarge(_))));
    }
}
