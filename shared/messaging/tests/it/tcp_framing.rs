//! The TCP framing against NestJS's own (`JsonSocket`, run with node): the
//! same bytes both ways, for text whose JavaScript length is not its byte
//! count.

use bytes::BytesMut;
use messaging::tcp::framing::JsonFrames;
use serde_json::{Value, json};
use tokio_util::codec::{Decoder, Encoder};

fn messages() -> Vec<Value> {
    vec![
        json!({"pattern": "sum", "data": [1, 2, 3], "id": "a1"}),
        json!({"pattern": "greet", "data": {"name": "Zoë", "note": "😀 — ½"}, "id": "b2"}),
        json!({"pattern": "order_placed", "data": {"music": "𝄞𝄞", "quote": "\"#\\"}}),
        json!({"id": "c3", "response": "déjà vu", "isDisposed": true}),
    ]
}

#[tokio::test]
async fn we_read_what_nestjs_frames() {
    let lines: String = messages().iter().map(|m| format!("{m}\n")).collect();
    let framed = test_support::nestjs::framing("frame", lines.as_bytes()).await;

    let (mut codec, mut buffer, mut read) = (JsonFrames::new(1 << 20), BytesMut::new(), vec![]);
    // Byte by byte: every character split at every point.
    for byte in framed {
        buffer.extend_from_slice(&[byte]);
        while let Some(frame) = codec.decode(&mut buffer).unwrap() {
            read.push(serde_json::from_str::<Value>(&frame).unwrap());
        }
    }

    assert_eq!(read, messages());
    assert!(buffer.is_empty());
}

#[tokio::test]
async fn nestjs_reads_what_we_frame() {
    let mut framed = BytesMut::new();
    let mut codec = JsonFrames::new(1 << 20);
    for message in messages() {
        codec.encode(&message.to_string(), &mut framed).unwrap();
    }

    let parsed = test_support::nestjs::framing("parse", &framed).await;
    let read: Vec<Value> = String::from_utf8(parsed)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();

    assert_eq!(read, messages());
}
