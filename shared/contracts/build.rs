//! Generates the gRPC code for `proto/` with a pure-Rust proto compiler
//! (protox), so neither developers nor the Dockerfile need `protoc`.

use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let protos = [proto_dir.join("user.proto")];
    for proto in &protos {
        println!("cargo:rerun-if-changed={}", proto.display());
    }

    let descriptors = protox::compile(&protos, [&proto_dir])?;

    // gRPC server reflection serves this encoded descriptor set, so
    // `grpcurl` works without the .proto file.
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("descriptors.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;

    // Messages that carry a password or a token get a hand-written `Debug`
    // (in src/users.rs) that redacts it: a logged request never leaks one.
    tonic_prost_build::configure()
        .skip_debug(["user.CreateUser", "user.Credentials", "user.AccessToken"])
        .compile_fds(descriptors)?;
    Ok(())
}
