//! Removing the content codings of a message body (RFC 9110 §8.4).
//!
//! Cassettes hold plain bodies: a compressed body can be neither redacted
//! nor searched for secrets, so a body that cannot be fully decoded is an
//! error here rather than something to record as it is. Labels are not
//! trusted blindly: servers mislabel, and a body can stay compressed after
//! its declared codings are gone, so the bytes are also checked for magic.

use std::borrow::Cow;
use std::io::Read;

/// Deeper nesting than this is not a real server's doing, and each layer
/// costs a full decode up to the size limit.
const MAX_LAYERS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub bytes: Vec<u8>,
    /// true when any coding was removed: the recorder must then drop the
    /// Content-Encoding header, which no longer describes the bytes.
    pub changed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodingError {
    #[error(
        "the body is labelled `Content-Encoding: {coding}`, which datovcr cannot decode, so it cannot be searched for secrets; nothing was recorded (only gzip, deflate, br and zstd are supported)"
    )]
    Unsupported { coding: String },
    #[error(
        "the body is labelled `Content-Encoding: {coding}` but does not decode as {coding} ({reason}), so it cannot be searched for secrets; nothing was recorded (check the sender's Content-Encoding header against the bytes it sends)"
    )]
    Corrupt { coding: String, reason: String },
    #[error(
        "the decoded body is larger than the {limit}-byte limit (a decompression bomb, or a body too large to record); nothing was recorded (if the body is genuine, raise --max-upstream-body or --max-request-body)"
    )]
    TooLarge { limit: usize },
    #[error(
        "the body is still {format}-compressed once its Content-Encoding is removed, and datovcr cannot decode {format}, so it cannot be searched for secrets; nothing was recorded (serve it plain, or compressed with gzip, deflate, br or zstd and labelled so)"
    )]
    StillCompressed { format: &'static str },
    #[error(
        "the body is compressed more than {MAX_LAYERS} layers deep, which no genuine server does, so it was not decoded and cannot be searched for secrets; nothing was recorded"
    )]
    TooManyLayers,
}

/// A compression format recognised by its magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Gzip,
    Zstd,
    /// Weak magic: two bytes that ordinary text (`x^`) can start with, so a
    /// match means "maybe", settled only by decoding.
    Zlib,
    Bzip2,
    Xz,
    Lz4,
    UnixCompress,
    /// A zip archive: its members are compressed one by one, and datovcr
    /// does not unpack archives, so it cannot search them.
    Zip,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Gzip => "gzip",
            Format::Zstd => "zstd",
            Format::Zlib => "zlib",
            Format::Bzip2 => "bzip2",
            Format::Xz => "xz",
            Format::Lz4 => "lz4",
            Format::UnixCompress => "compress",
            Format::Zip => "zip",
        }
    }

    /// `None` for formats whose decoders datovcr does not carry.
    fn codec(self) -> Option<Codec> {
        match self {
            Format::Gzip => Some(Codec::Gzip),
            Format::Zstd => Some(Codec::Zstd),
            Format::Zlib => Some(Codec::Zlib),
            _ => None,
        }
    }
}

/// The compression format the bytes start with, by magic number, if any.
/// Brotli has no magic number, so it is never found here.
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    match bytes {
        [0x1f, 0x8b, ..] => Some(Format::Gzip),
        [0x1f, 0x9d, ..] => Some(Format::UnixCompress),
        // A frame, or a skippable frame (which the zstd decoder passes over).
        [0x28, 0xb5, 0x2f, 0xfd, ..] | [0x50..=0x5f, 0x2a, 0x4d, 0x18, ..] => Some(Format::Zstd),
        [b'B', b'Z', b'h', b'1'..=b'9', ..] => Some(Format::Bzip2),
        [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, ..] => Some(Format::Xz),
        [0x04, 0x22, 0x4d, 0x18, ..] => Some(Format::Lz4),
        [b'P', b'K', 0x03, 0x04, ..] => Some(Format::Zip),
        [0x78, flg, ..] if (0x7800 + u16::from(*flg)) % 31 == 0 => Some(Format::Zlib),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    Gzip,
    /// The `deflate` coding: zlib as the RFC says, or raw deflate as some
    /// servers send.
    Deflate,
    /// Sniffed zlib only: raw deflate has no header, so accepting it here
    /// would "decode" text that merely starts with `x`.
    Zlib,
    Brotli,
    Zstd,
}

const TRAILING: &str = "bytes follow the end of the stream";

#[derive(Debug, PartialEq)]
enum Failure {
    TooLarge,
    Corrupt(String),
}

/// Removes every coding in `content_encoding` (each Content-Encoding header
/// value of the message, in order; a value may be a comma list), then any
/// compression the bytes still carry. An empty body is returned as it is
/// whatever its label: HEAD, 204 and 304 responses label a body they do not
/// send, and there is nothing in it to search.
pub fn decode(
    content_encoding: &[&str],
    bytes: &[u8],
    limit: usize,
) -> Result<Decoded, CodingError> {
    if bytes.is_empty() {
        return Ok(Decoded {
            bytes: Vec::new(),
            changed: false,
        });
    }
    let mut declared = Vec::new();
    for coding in content_encoding.iter().flat_map(|value| value.split(',')) {
        let coding = coding.trim();
        let codec = match coding.to_ascii_lowercase().as_str() {
            "" | "identity" => continue,
            "gzip" | "x-gzip" => Codec::Gzip,
            "deflate" => Codec::Deflate,
            "br" => Codec::Brotli,
            "zstd" | "x-zstd" => Codec::Zstd,
            _ => {
                return Err(CodingError::Unsupported {
                    coding: coding.to_owned(),
                });
            }
        };
        declared.push((coding, codec));
    }
    if declared.len() > MAX_LAYERS {
        return Err(CodingError::TooManyLayers);
    }
    let too_large = CodingError::TooLarge { limit };
    let still = |format: Format| CodingError::StillCompressed {
        format: format.name(),
    };
    let mut layers = declared.len();
    let mut current = Cow::Borrowed(bytes);
    // Codings are listed in the order they were applied.
    for &(coding, codec) in declared.iter().rev() {
        current = Cow::Owned(match run(codec, &current, limit) {
            Ok(out) => out,
            Err(Failure::TooLarge) => return Err(too_large),
            // The label may be wrong while the bytes are fine.
            Err(Failure::Corrupt(reason)) => {
                let corrupt = || CodingError::Corrupt {
                    coding: coding.to_owned(),
                    reason,
                };
                let sniffed =
                    sniff(&current).map(|format| format.codec().ok_or_else(|| still(format)));
                match sniffed.transpose()? {
                    Some(other) if other != codec => match run(other, &current, limit) {
                        Ok(out) => out,
                        Err(Failure::TooLarge) => return Err(too_large),
                        Err(Failure::Corrupt(_)) => return Err(corrupt()),
                    },
                    _ => return Err(corrupt()),
                }
            }
        });
    }
    // Whatever the labels said, the result may still be compressed: a
    // mislabelled or unlabelled body, or one compressed twice.
    while let Some(format) = sniff(&current) {
        let codec = format.codec().ok_or_else(|| still(format))?;
        current = Cow::Owned(match run(codec, &current, limit) {
            Ok(out) => out,
            Err(Failure::TooLarge) => return Err(too_large),
            // Weak magic that does not decode was text all along.
            Err(Failure::Corrupt(_)) if format == Format::Zlib => break,
            Err(Failure::Corrupt(_)) => return Err(still(format)),
        });
        layers += 1;
        if layers > MAX_LAYERS {
            return Err(CodingError::TooManyLayers);
        }
    }
    Ok(Decoded {
        bytes: current.into_owned(),
        changed: layers > 0,
    })
}

/// Decodes one layer. Every decoder must reach the end of its stream and
/// of the input: bytes left over, or a stream cut short, would otherwise be
/// dropped unsearched or recorded as a silently truncated body.
fn run(codec: Codec, input: &[u8], limit: usize) -> Result<Vec<u8>, Failure> {
    match codec {
        Codec::Gzip => read_all(&mut flate2::read::MultiGzDecoder::new(input), limit),
        Codec::Zlib => inflate(input, true, limit),
        Codec::Deflate => match inflate(input, true, limit) {
            Err(Failure::Corrupt(reason)) => {
                inflate(input, false, limit).map_err(|raw| match raw {
                    Failure::TooLarge => Failure::TooLarge,
                    Failure::Corrupt(_) => Failure::Corrupt(reason),
                })
            }
            done => done,
        },
        Codec::Brotli => {
            let mut decoder = brotli::Decompressor::new(input, 4096);
            let out = read_all(&mut decoder, limit)?;
            // Bytes after the stream surface only on one more read (those
            // already buffered) or as input never read at all.
            match decoder.read(&mut [0; 1]) {
                Ok(0) if decoder.get_ref().is_empty() => Ok(out),
                _ => Err(Failure::Corrupt(TRAILING.into())),
            }
        }
        Codec::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|err| Failure::Corrupt(err.to_string()))?;
            read_all(&mut decoder, limit)
        }
    }
}

/// `take(limit + 1)` stops a decompression bomb as soon as it is one.
fn read_all(reader: &mut impl Read, limit: usize) -> Result<Vec<u8>, Failure> {
    let mut out = Vec::new();
    match reader
        .take((limit as u64).saturating_add(1))
        .read_to_end(&mut out)
    {
        Ok(_) if out.len() > limit => Err(Failure::TooLarge),
        Ok(_) => Ok(out),
        Err(err) => Err(Failure::Corrupt(err.to_string())),
    }
}

/// flate2's zlib and deflate readers report a truncated stream as a clean
/// end and ignore bytes after the stream, so the stream end is checked here.
fn inflate(input: &[u8], zlib: bool, limit: usize) -> Result<Vec<u8>, Failure> {
    use flate2::{Decompress, FlushDecompress, Status};
    let mut inflater = Decompress::new(zlib);
    let cap = limit.saturating_add(1);
    let mut out = Vec::with_capacity(input.len().saturating_mul(4).max(64).min(cap));
    loop {
        let consumed = inflater.total_in() as usize;
        let produced = out.len();
        let status = inflater
            .decompress_vec(&input[consumed..], &mut out, FlushDecompress::None)
            .map_err(|err| Failure::Corrupt(err.to_string()))?;
        if out.len() > limit {
            return Err(Failure::TooLarge);
        }
        let stuck = out.len() == produced && inflater.total_in() as usize == consumed;
        match status {
            Status::StreamEnd if inflater.total_in() as usize == input.len() => return Ok(out),
            Status::StreamEnd => return Err(Failure::Corrupt(TRAILING.into())),
            _ if out.len() == out.capacity() => {
                out.reserve(out.capacity().min(cap - out.len()));
            }
            _ if stuck => return Err(Failure::Corrupt("the stream is cut short".into())),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, read};

    const TEXT: &[u8] = br#"{"data":{"type":"access_token","attributes":{"token":"s3cr3t"}}}"#;
    const MB: usize = 1 << 20;

    fn all(mut reader: impl Read) -> Vec<u8> {
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        out
    }
    fn gz(b: &[u8]) -> Vec<u8> {
        all(read::GzEncoder::new(b, Compression::fast()))
    }
    fn zlib(b: &[u8]) -> Vec<u8> {
        all(read::ZlibEncoder::new(b, Compression::fast()))
    }
    fn raw(b: &[u8]) -> Vec<u8> {
        all(read::DeflateEncoder::new(b, Compression::fast()))
    }
    fn br(b: &[u8]) -> Vec<u8> {
        all(brotli::CompressorReader::new(b, 4096, 5, 22))
    }
    fn zst(b: &[u8]) -> Vec<u8> {
        zstd::stream::encode_all(b, 1).unwrap()
    }
    fn dec(codings: &[&str], body: &[u8]) -> Result<Decoded, CodingError> {
        decode(codings, body, MB)
    }
    fn plain(bytes: &[u8]) -> Result<Decoded, CodingError> {
        let (bytes, changed) = (bytes.to_vec(), true);
        Ok(Decoded { bytes, changed })
    }
    fn unchanged(bytes: &[u8]) -> Result<Decoded, CodingError> {
        let (bytes, changed) = (bytes.to_vec(), false);
        Ok(Decoded { bytes, changed })
    }

    #[test]
    fn every_coding_alone() {
        assert_eq!(dec(&["gzip"], &gz(TEXT)), plain(TEXT));
        assert_eq!(dec(&["x-gzip"], &gz(TEXT)), plain(TEXT));
        assert_eq!(dec(&["deflate"], &zlib(TEXT)), plain(TEXT));
        assert_eq!(dec(&["deflate"], &raw(TEXT)), plain(TEXT));
        assert_eq!(dec(&["br"], &br(TEXT)), plain(TEXT));
        assert_eq!(dec(&["zstd"], &zst(TEXT)), plain(TEXT));
        assert_eq!(dec(&["x-zstd"], &zst(TEXT)), plain(TEXT));
        assert_eq!(dec(&["identity"], TEXT), unchanged(TEXT));
        assert_eq!(dec(&[], TEXT), unchanged(TEXT));
    }

    #[test]
    fn stacked_codings_are_removed_last_applied_first() {
        assert_eq!(dec(&["gzip, br"], &br(&gz(TEXT))), plain(TEXT));
        assert_eq!(dec(&["br", "zstd"], &zst(&br(TEXT))), plain(TEXT));
        assert_eq!(dec(&["deflate", "gzip"], &gz(&raw(TEXT))), plain(TEXT));
        assert_eq!(dec(&["deflate,br"], &br(&zlib(TEXT))), plain(TEXT));
    }

    #[test]
    fn mislabelled_and_unlabelled_bodies_are_decoded_by_magic() {
        assert_eq!(dec(&["gzip"], &zst(TEXT)), plain(TEXT));
        assert_eq!(dec(&["br"], &gz(TEXT)), plain(TEXT));
        assert_eq!(dec(&[], &gz(TEXT)), plain(TEXT));
        assert_eq!(dec(&[], &zlib(TEXT)), plain(TEXT));
        assert_eq!(dec(&["gzip"], &gz(&gz(TEXT))), plain(TEXT));
        assert_eq!(dec(&["br"], &br(&zst(TEXT))), plain(TEXT));
    }

    #[test]
    fn formats_datovcr_cannot_decode_are_still_compressed() {
        let xz = b"\xfd7zXZ\x00\x00\x04";
        let still = |format| Err(CodingError::StillCompressed { format });
        assert_eq!(dec(&[], b"BZh91AY&SY\x00\x01"), still("bzip2"));
        assert_eq!(dec(&["gzip"], &gz(xz)), still("xz"));
        assert_eq!(dec(&["gzip"], xz), still("xz"));
        assert_eq!(dec(&[], b"\x04\x22\x4d\x18\x64"), still("lz4"));
        assert_eq!(dec(&[], b"\x1f\x9d\x90"), still("compress"));
        // Strong magic that does not decode is not text.
        assert_eq!(dec(&[], b"\x1f\x8bnot gzip"), still("gzip"));
        assert_eq!(dec(&["br"], &br(b"\x28\xb5\x2f\xfdxx")), still("zstd"));
    }

    #[test]
    fn truncated_or_padded_streams_are_corrupt() {
        let coding = |codings: &[&str], body: &[u8]| match dec(codings, body) {
            Err(CodingError::Corrupt { coding, reason }) => (coding, reason),
            other => panic!("{other:?}"),
        };
        let cut = |body: Vec<u8>| body[..body.len() - 3].to_vec();
        let tail = |body: Vec<u8>| [body, b"tail".to_vec()].concat();
        assert_eq!(coding(&["gzip"], &cut(gz(TEXT))).0, "gzip");
        assert_eq!(coding(&["GZIP"], b"not gzip").0, "GZIP");
        assert_eq!(coding(&["br"], &cut(br(TEXT))).0, "br");
        assert_eq!(coding(&["br"], &tail(br(TEXT))).1, TRAILING);
        assert_eq!(coding(&["zstd"], &cut(zst(TEXT))).0, "zstd");
        assert_eq!(coding(&["zstd"], &tail(zst(TEXT))).0, "zstd");
        assert_eq!(coding(&["deflate"], &cut(zlib(TEXT))).0, "deflate");
        assert_eq!(coding(&["deflate"], &tail(zlib(TEXT))).1, TRAILING);
        let corrupt = |reason: &str| Err(Failure::Corrupt(reason.into()));
        let cut_short = corrupt("the stream is cut short");
        assert_eq!(inflate(&cut(raw(TEXT)), false, MB), cut_short);
        assert_eq!(inflate(&cut(zlib(TEXT)), true, MB), cut_short);
        assert_eq!(inflate(&tail(raw(TEXT)), false, MB), corrupt(TRAILING));
    }

    #[test]
    fn decompression_bombs_are_too_large() {
        let zeros = vec![0u8; 10 * MB];
        let too_large = Err(CodingError::TooLarge { limit: MB });
        assert_eq!(dec(&["gzip"], &gz(&zeros)), too_large);
        assert_eq!(dec(&["zstd"], &zst(&zeros)), too_large);
        assert_eq!(dec(&["deflate"], &zlib(&zeros)), too_large);
        assert_eq!(dec(&["deflate"], &raw(&zeros)), too_large);
        assert_eq!(dec(&["br"], &br(&zeros)), too_large);
        assert_eq!(dec(&[], &gz(&zeros)), too_large);
        assert_eq!(dec(&["gzip"], &gz(&zeros[..MB])), plain(&zeros[..MB]));
        assert_eq!(dec(&["deflate"], &zlib(&zeros[..MB])), plain(&zeros[..MB]));
    }

    #[test]
    fn unknown_codings_are_unsupported() {
        let unsupported = |coding: &str| {
            Err(CodingError::Unsupported {
                coding: coding.into(),
            })
        };
        assert_eq!(dec(&["compress"], TEXT), unsupported("compress"));
        assert_eq!(dec(&["gzip", "Foo"], &gz(TEXT)), unsupported("Foo"));
        assert_eq!(
            dec(&["foo"], TEXT).unwrap_err().to_string(),
            "the body is labelled `Content-Encoding: foo`, which datovcr cannot decode, so it \
             cannot be searched for secrets; nothing was recorded (only gzip, deflate, br and \
             zstd are supported)"
        );
    }

    #[test]
    fn text_that_looks_like_zlib_is_left_alone() {
        assert_eq!(sniff(b"x^hello"), Some(Format::Zlib));
        assert_eq!(dec(&[], b"x^hello"), unchanged(b"x^hello"));
        assert_eq!(dec(&["gzip"], &gz(b"x^hello")), plain(b"x^hello"));
    }

    #[test]
    fn an_empty_body_is_left_alone_whatever_its_label() {
        assert_eq!(dec(&[], b""), unchanged(b""));
        assert_eq!(dec(&["gzip"], b""), unchanged(b""));
        assert_eq!(decode(&["br", "zstd"], b"", 0), unchanged(b""));
        assert_eq!(dec(&["compress"], b""), unchanged(b""));
    }

    #[test]
    fn codings_are_case_insensitive_with_optional_whitespace() {
        let body = br(&gz(TEXT));
        assert_eq!(dec(&["GZip ,  BR"], &body), plain(TEXT));
        assert_eq!(dec(&[" , identity,\tgZIP ", "", "Br"], &body), plain(TEXT));
        assert_eq!(dec(&["Identity, "], TEXT), unchanged(TEXT));
    }

    #[test]
    fn more_than_eight_layers_are_refused() {
        let nested = |layers: usize| (0..layers).fold(TEXT.to_vec(), |body, _| gz(&body));
        let labels = ["gzip"; 9];
        let too_many = Err(CodingError::TooManyLayers);
        assert_eq!(dec(&labels[..8], &nested(8)), plain(TEXT));
        assert_eq!(dec(&labels, &nested(9)), too_many);
        assert_eq!(dec(&[], &nested(8)), plain(TEXT));
        assert_eq!(dec(&["gzip"], &nested(9)), too_many);
        assert_eq!(dec(&[], &nested(9)), too_many);
    }
}
