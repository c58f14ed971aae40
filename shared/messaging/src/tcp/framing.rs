//! NestJS's TCP framing (`@nestjs/microservices` `helpers/json-socket.js`):
//! every message is `<length>#<json>`, where `<length>` is the JSON's
//! JavaScript string length — its count of **UTF-16 code units**, not of
//! bytes. For ASCII the two agree; `ë` is one unit and two bytes, `😀` two
//! units and four. A framing that counted bytes would talk to NestJS until
//! the first customer named Zoë.

use bytes::{Buf, BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// A length prefix longer than this many digits is not a length.
const MAX_DIGITS: usize = 12;

/// Why a stream of frames cannot be read on: the connection is dropped
/// (there is no way to find the next frame).
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Not `<digits>#` where a frame should start (NestJS's
    /// `CorruptedPacketLengthException`).
    #[error("corrupted frame length {0:?}")]
    CorruptedLength(String),
    /// A frame longer than the limit (NestJS's `maxBufferSize`).
    #[error("a frame of {units} UTF-16 units exceeds the limit of {max}")]
    TooLong { units: usize, max: usize },
    /// The bytes are not UTF-8, or the length ends inside a character.
    #[error("a frame is not UTF-8 text of its stated length")]
    NotText,
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads and writes NestJS JSON frames; see the module docs.
#[derive(Debug)]
pub struct JsonFrames {
    max_units: usize,
    body: Option<Body>,
}

/// A frame whose length was read: how far its body has been measured.
#[derive(Debug)]
struct Body {
    units: usize,
    scanned_bytes: usize,
    scanned_units: usize,
}

impl JsonFrames {
    /// Frames of at most `max_units` UTF-16 units (a bound on what one
    /// peer can make us buffer).
    pub fn new(max_units: usize) -> Self {
        Self {
            max_units,
            body: None,
        }
    }
}

/// The JavaScript length of `text`: its UTF-16 code units.
pub fn js_length(text: &str) -> usize {
    text.encode_utf16().count()
}

impl Decoder for JsonFrames {
    type Item = String;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<String>, FrameError> {
        let body = match &mut self.body {
            Some(body) => body,
            None => {
                let Some(hash) = src.iter().position(|&b| b == b'#') else {
                    if src.len() > MAX_DIGITS {
                        let start = String::from_utf8_lossy(&src[..MAX_DIGITS]).into_owned();
                        return Err(FrameError::CorruptedLength(start));
                    }
                    return Ok(None);
                };
                let digits = &src[..hash];
                let units = std::str::from_utf8(digits)
                    .ok()
                    .filter(|d| !d.is_empty() && d.len() <= MAX_DIGITS)
                    .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|d| d.parse::<usize>().ok())
                    .ok_or_else(|| {
                        FrameError::CorruptedLength(String::from_utf8_lossy(digits).into_owned())
                    })?;
                if units > self.max_units {
                    return Err(FrameError::TooLong {
                        units,
                        max: self.max_units,
                    });
                }
                src.advance(hash + 1);
                self.body.insert(Body {
                    units,
                    scanned_bytes: 0,
                    scanned_units: 0,
                })
            }
        };
        // Measure the body character by character from where the last call
        // stopped, until it holds `units` UTF-16 units.
        while body.scanned_units < body.units {
            let Some(&lead) = src.get(body.scanned_bytes) else {
                return Ok(None);
            };
            let (bytes, units) = match lead {
                0x00..=0x7F => (1, 1),
                0xC2..=0xDF => (2, 1),
                0xE0..=0xEF => (3, 1),
                // Outside the Basic Multilingual Plane: a surrogate pair.
                0xF0..=0xF4 => (4, 2),
                _ => return Err(FrameError::NotText),
            };
            if body.scanned_bytes + bytes > src.len() {
                return Ok(None);
            }
            body.scanned_bytes += bytes;
            body.scanned_units += units;
        }
        if body.scanned_units != body.units {
            // The stated length ends between the two halves of a pair.
            return Err(FrameError::NotText);
        }
        let frame = src.split_to(body.scanned_bytes);
        self.body = None;
        String::from_utf8(frame.to_vec())
            .map(Some)
            .map_err(|_| FrameError::NotText)
    }
}

impl Encoder<&str> for JsonFrames {
    type Error = FrameError;

    fn encode(&mut self, json: &str, dst: &mut BytesMut) -> Result<(), FrameError> {
        let length = js_length(json).to_string();
        dst.reserve(length.len() + 1 + json.len());
        dst.put_slice(length.as_bytes());
        dst.put_u8(b'#');
        dst.put_slice(json.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(json: &str) -> Vec<u8> {
        let mut out = BytesMut::new();
        JsonFrames::new(1 << 20).encode(json, &mut out).unwrap();
        out.to_vec()
    }

    fn decode_all(bytes: &[u8], chunk: usize) -> Result<Vec<String>, FrameError> {
        let (mut codec, mut buffer, mut frames) =
            (JsonFrames::new(1 << 20), BytesMut::new(), vec![]);
        for piece in bytes.chunks(chunk.max(1)) {
            buffer.extend_from_slice(piece);
            while let Some(frame) = codec.decode(&mut buffer)? {
                frames.push(frame);
            }
        }
        assert!(buffer.is_empty(), "bytes left over: {buffer:?}");
        Ok(frames)
    }

    #[test]
    fn the_length_counts_utf16_units_as_javascript_does() {
        // JSON.stringify("Zoë 😀").length === 8; it is 11 bytes.
        assert_eq!(frame(r#""Zoë 😀""#), "8#\"Zoë 😀\"".as_bytes());
        assert_eq!(frame(r#"{"a":1}"#), b"7#{\"a\":1}");
    }

    #[test]
    fn frames_split_at_every_byte_or_pipelined_decode_the_same() {
        let messages = [
            r#"{"pattern":"sum","data":[1,2],"id":"a"}"#,
            r#"{"pattern":"greet","data":"Zoë 😀 — ½","id":"b"}"#,
            r#"{"pattern":"e","data":"𝄞𝄞"}"#,
        ];
        let stream: Vec<u8> = messages.iter().flat_map(|m| frame(m)).collect();
        for chunk in [1, 2, 3, 5, 7, stream.len()] {
            assert_eq!(
                decode_all(&stream, chunk).unwrap(),
                messages,
                "chunks of {chunk}"
            );
        }
    }

    #[test]
    fn a_corrupted_length_an_oversized_frame_or_a_split_character_is_refused() {
        let mut codec = JsonFrames::new(100);
        let mut corrupted = BytesMut::from("12x#{}");
        assert!(matches!(
            codec.decode(&mut corrupted),
            Err(FrameError::CorruptedLength(_))
        ));
        let mut endless = BytesMut::from("1234567890123456789");
        assert!(matches!(
            JsonFrames::new(100).decode(&mut endless),
            Err(FrameError::CorruptedLength(_))
        ));
        let mut huge = BytesMut::from("101#");
        assert!(matches!(
            JsonFrames::new(100).decode(&mut huge),
            Err(FrameError::TooLong {
                units: 101,
                max: 100
            })
        ));
        // One unit of a two-unit character.
        let mut split = BytesMut::from("1#😀");
        assert!(matches!(
            JsonFrames::new(100).decode(&mut split),
            Err(FrameError::NotText)
        ));
        let mut not_utf8 = BytesMut::from(&b"2#\xff\xfe"[..]);
        assert!(matches!(
            JsonFrames::new(100).decode(&mut not_utf8),
            Err(FrameError::NotText)
        ));
    }
}
