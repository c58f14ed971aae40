//! NestJS's TCP transport (`Transport.TCP`). So far its framing — the part
//! a byte-for-byte peer must get exactly right; the client and server
//! (with mutual TLS, as the gRPC path has it) are issue 17's next step.

pub mod framing;
