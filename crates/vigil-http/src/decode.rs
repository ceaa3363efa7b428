//! Content codings undone before an answer is masked: `gzip` (and
//! `x-gzip`), `deflate` (zlib, as HTTP means it), `br` and `zstd`, applied
//! in the order `Content-Encoding` lists them and so undone in reverse.
//! Every decoder's output is bounded (a small compressed body can expand
//! without limit); a coding Vigil does not know, or a body that does not
//! decode, is refused: masking never guesses at bytes it cannot read.

use std::io::Read;

/// Why an encoded body could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the answer's content coding is not one Vigil decodes (gzip, deflate, br, zstd)")]
    Unknown,
    #[error("the answer does not decode as its Content-Encoding says")]
    Corrupt,
    #[error("the decoded answer is larger than max_response_bytes")]
    TooLarge,
}

/// The codings of all `Content-Encoding` fields, in order, lower case,
/// without `identity`.
pub fn codings<'a>(fields: impl Iterator<Item = &'a [u8]>) -> Vec<String> {
    fields
        .flat_map(|v| v.split(|b| *b == b','))
        .map(|c| String::from_utf8_lossy(c.trim_ascii()).to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "identity")
        .collect()
}

/// The codings of a message's `Content-Encoding` fields.
pub fn codings_of(headers: &axum::http::HeaderMap) -> Vec<String> {
    codings(
        headers
            .get_all(axum::http::header::CONTENT_ENCODING)
            .iter()
            .map(|v| v.as_bytes()),
    )
}

/// An answer that must be masked, read whole (at most `max` bytes) with
/// its content codings undone (bounded too).
pub async fn read_decoded(
    mut upstream: reqwest::Response,
    max: u64,
) -> Result<Vec<u8>, crate::mask::Unmaskable> {
    use crate::mask::Unmaskable;
    // Every Content-Encoding field counts: `identity` then `gzip` is gzip.
    let codings = codings_of(upstream.headers());
    if upstream.content_length().is_some_and(|n| n > max) {
        return Err(Unmaskable::TooLarge);
    }
    let mut buf = Vec::new();
    loop {
        match upstream.chunk().await {
            Ok(Some(chunk)) if (buf.len() + chunk.len()) as u64 > max => {
                return Err(Unmaskable::TooLarge);
            }
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(_) => return Err(Unmaskable::Broken),
        }
    }
    if codings.is_empty() {
        return Ok(buf);
    }
    decode(&codings, &buf, max).map_err(|e| match e {
        DecodeError::TooLarge => Unmaskable::TooLarge,
        DecodeError::Unknown | DecodeError::Corrupt => Unmaskable::Encoded,
    })
}

/// `body` with `codings` undone, at most `max` bytes.
pub fn decode(codings: &[String], body: &[u8], max: u64) -> Result<Vec<u8>, DecodeError> {
    let mut data = body.to_vec();
    for coding in codings.iter().rev() {
        data = match coding.as_str() {
            "gzip" | "x-gzip" => bounded(flate2::read::MultiGzDecoder::new(&data[..]), max)?,
            "deflate" => bounded(flate2::read::ZlibDecoder::new(&data[..]), max)?,
            "br" => bounded(brotli_decompressor::Decompressor::new(&data[..], 8192), max)?,
            "zstd" => zstd(&data, max)?,
            _ => return Err(DecodeError::Unknown),
        };
    }
    Ok(data)
}

/// Every frame of a zstd body (a body may hold several).
fn zstd(mut data: &[u8], max: u64) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let decoder =
            ruzstd::decoding::StreamingDecoder::new(&mut data).map_err(|_| DecodeError::Corrupt)?;
        let room = max.saturating_sub(out.len() as u64);
        out.extend(bounded(decoder, room)?);
    }
    Ok(out)
}

fn bounded(reader: impl Read, max: u64) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    reader
        .take(max.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|_| DecodeError::Corrupt)?;
    if out.len() as u64 > max {
        return Err(DecodeError::TooLarge);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const TEXT: &[u8] = br#"{"email":"ada@example.com","n":1}"#;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = e.write_all(data);
        e.finish().unwrap_or_default()
    }

    fn brotli(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            let _ = w.write_all(data);
        }
        out
    }

    /// `printf '{"email":"ada@example.com","n":1}' | zstd -c | xxd -i`
    const ZSTD: &[u8] = &[
        0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x58, 0x09, 0x01, 0x00, 0x7b, 0x22, 0x65, 0x6d, 0x61, 0x69,
        0x6c, 0x22, 0x3a, 0x22, 0x61, 0x64, 0x61, 0x40, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65,
        0x2e, 0x63, 0x6f, 0x6d, 0x22, 0x2c, 0x22, 0x6e, 0x22, 0x3a, 0x31, 0x7d, 0xfa, 0x6b, 0x3e,
        0xad,
    ];

    fn of(names: &[&str]) -> Vec<String> {
        codings(names.iter().map(|n| n.as_bytes()))
    }

    #[test]
    fn each_coding_and_a_chain_of_them_decode() {
        assert_eq!(decode(&of(&["gzip"]), &gzip(TEXT), 1024), Ok(TEXT.to_vec()));
        assert_eq!(decode(&of(&["br"]), &brotli(TEXT), 1024), Ok(TEXT.to_vec()));
        assert_eq!(decode(&of(&["zstd"]), ZSTD, 1024), Ok(TEXT.to_vec()));
        // Applied gzip then br: undone br then gzip.
        let both = brotli(&gzip(TEXT));
        assert_eq!(decode(&of(&["gzip, br"]), &both, 1024), Ok(TEXT.to_vec()));
        assert_eq!(
            decode(&of(&["identity", "gzip"]), &gzip(TEXT), 1024),
            Ok(TEXT.to_vec())
        );
    }

    #[test]
    fn bombs_unknown_codings_and_garbage_are_refused() {
        let bomb = gzip(&vec![b'a'; 1 << 20]);
        assert!(bomb.len() < 4096);
        assert_eq!(
            decode(&of(&["gzip"]), &bomb, 64 * 1024),
            Err(DecodeError::TooLarge)
        );
        assert_eq!(
            decode(&of(&["compress"]), TEXT, 1024),
            Err(DecodeError::Unknown)
        );
        assert_eq!(
            decode(&of(&["gzip"]), TEXT, 1024),
            Err(DecodeError::Corrupt)
        );
        assert_eq!(
            decode(&of(&["zstd"]), TEXT, 1024),
            Err(DecodeError::Corrupt)
        );
        assert_eq!(
            decode(&of(&["br"]), b"\xff\xff\xff\xff", 1024),
            Err(DecodeError::Corrupt)
        );
    }
}
