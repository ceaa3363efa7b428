//! The untagged first packet of a connection.

use super::FrameError;

pub const PROTOCOL_V3: u32 = 196_608;
pub const SSL_REQUEST_CODE: u32 = 80_877_103;
pub const GSSENC_REQUEST_CODE: u32 = 80_877_104;
pub const CANCEL_REQUEST_CODE: u32 = 80_877_102;

#[derive(Debug, PartialEq, Eq)]
pub enum Startup {
    SslRequest,
    GssEncRequest,
    Cancel { pid: u32, secret: u32 },
    Params(Vec<(String, String)>),
}

/// Parses a startup packet body (after its 4-byte length).
pub fn parse_startup(body: &[u8]) -> Result<Startup, FrameError> {
    let bad = || FrameError::Malformed("startup");
    let code = body.get(0..4).ok_or_else(bad)?;
    let code = u32::from_be_bytes([code[0], code[1], code[2], code[3]]);
    match code {
        SSL_REQUEST_CODE if body.len() == 4 => Ok(Startup::SslRequest),
        GSSENC_REQUEST_CODE if body.len() == 4 => Ok(Startup::GssEncRequest),
        CANCEL_REQUEST_CODE if body.len() == 12 => {
            let pid = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
            let secret = u32::from_be_bytes([body[8], body[9], body[10], body[11]]);
            Ok(Startup::Cancel { pid, secret })
        }
        PROTOCOL_V3 => {
            let mut params = Vec::new();
            let mut rest = &body[4..];
            loop {
                let end = rest.iter().position(|&b| b == 0).ok_or_else(bad)?;
                if end == 0 {
                    break;
                }
                let key = std::str::from_utf8(&rest[..end]).map_err(|_| bad())?;
                rest = &rest[end + 1..];
                let vend = rest.iter().position(|&b| b == 0).ok_or_else(bad)?;
                let value = std::str::from_utf8(&rest[..vend]).map_err(|_| bad())?;
                rest = &rest[vend + 1..];
                params.push((key.to_string(), value.to_string()));
                if params.len() > 64 {
                    return Err(bad());
                }
            }
            Ok(Startup::Params(params))
        }
        _ => Err(FrameError::Malformed(
            "startup (unsupported protocol version)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_params() {
        let mut body = PROTOCOL_V3.to_be_bytes().to_vec();
        body.extend_from_slice(b"user\0bob\0database\0shop\0\0");
        assert_eq!(
            parse_startup(&body).unwrap(),
            Startup::Params(vec![
                ("user".into(), "bob".into()),
                ("database".into(), "shop".into())
            ])
        );
    }

    #[test]
    fn parses_ssl_and_cancel() {
        assert_eq!(
            parse_startup(&SSL_REQUEST_CODE.to_be_bytes()).unwrap(),
            Startup::SslRequest
        );
        let mut body = CANCEL_REQUEST_CODE.to_be_bytes().to_vec();
        body.extend_from_slice(&7u32.to_be_bytes());
        body.extend_from_slice(&9u32.to_be_bytes());
        assert_eq!(
            parse_startup(&body).unwrap(),
            Startup::Cancel { pid: 7, secret: 9 }
        );
    }

    #[test]
    fn refuses_garbage() {
        assert!(parse_startup(b"").is_err());
        assert!(parse_startup(&[0, 3, 0, 0, b'u']).is_err());
        assert!(parse_startup(&[1, 2, 3, 4]).is_err());
    }
}
