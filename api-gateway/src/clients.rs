//! Who a client is, for the limits that give each one a fair share: its
//! address — the TCP peer's, or, behind a reverse proxy the operator names
//! in `TRUSTED_PROXIES`, the one that proxy says it forwarded for.
//!
//! A forwarding header is believed only from a trusted peer: anyone else
//! could write any address in it and be a new client with every request.
//! Through a chain of proxies the client is the rightmost address in
//! `X-Forwarded-For` that is not itself a trusted proxy (what the proxy
//! nearest to us appended, then the one before it, …); entries to the left
//! of it were written by the client and are ignored. Without
//! `X-Forwarded-For`, RFC 7239's `Forwarded: for=` is read the same way.
//!
//! IPv6 clients are counted by their /64: one host usually holds a whole
//! prefix and could otherwise be a new client with every address in it.

use std::net::{IpAddr, Ipv6Addr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client a request is from, as [`TrustedProxies::client`] resolved
/// it; in every request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The key a client is counted under: its address, an IPv4-mapped IPv6
    /// address as the IPv4 one, any other IPv6 address as its /64.
    pub fn key(self) -> IpAddr {
        match unmapped(self.0) {
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u128::from(u64::MAX)))),
            v4 => v4,
        }
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a dual-stack
/// socket reports) as the IPv4 address it is.
fn unmapped(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// `TRUSTED_PROXIES`: the networks whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// A comma list of CIDRs (`10.0.0.0/8, 192.168.1.7/32`; a bare address
    /// is its own /32 or /128); empty: none.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{item:?} is not a CIDR (e.g. 10.0.0.0/8) or an address"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let address = unmapped(address);
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client of a request from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> ClientAddr {
        if !self.contains(peer) {
            return ClientAddr(peer);
        }
        let mut hops = forwarded_for(headers);
        // Right to left: the nearest hop first. The first one that is not
        // a proxy of ours is the client; if all are, the farthest.
        hops.reverse();
        let client = hops
            .iter()
            .copied()
            .find(|hop| !self.contains(*hop))
            .or_else(|| hops.last().copied())
            .unwrap_or(peer);
        ClientAddr(client)
    }
}

/// The addresses a request was forwarded for, farthest first: every
/// `X-Forwarded-For`, else every `Forwarded` `for=`. A hop that is not an
/// address (`unknown`, an obfuscated name) ends the list there — what is
/// left of it cannot be placed.
fn forwarded_for(headers: &HeaderMap) -> Vec<IpAddr> {
    let values = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect::<Vec<_>>()
    };
    let mut hops: Vec<&str> = values("x-forwarded-for");
    if hops.is_empty() {
        hops = values("forwarded")
            .into_iter()
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (key, value) = pair.trim().split_once('=')?;
                    key.eq_ignore_ascii_case("for").then_some(value)
                })
            })
            .collect();
    }
    let mut addresses = Vec::with_capacity(hops.len());
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(address) => addresses.push(address),
            None => break,
        }
    }
    addresses.reverse();
    addresses
}

/// `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `"[2001:db8::1]:4711"`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim_matches('"');
    if let Ok(address) = hop.parse() {
        return Some(address);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    hop.rsplit_once(':')?.0.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, value.parse().unwrap());
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarding_headers_count_only_from_a_trusted_proxy() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let forged = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            proxies.client(ip("198.51.100.1"), &forged).0,
            ip("198.51.100.1")
        );
        assert_eq!(proxies.client(ip("10.1.2.3"), &forged).0, ip("203.0.113.9"));
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("10.1.2.3"), &forged).0, ip("10.1.2.3"));
    }

    #[test]
    fn the_client_is_the_rightmost_hop_that_is_not_a_proxy() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 192.168.0.1").unwrap();
        // The client wrote the first entry itself; our proxies appended the rest.
        let chain = headers(&[
            ("x-forwarded-for", "1.1.1.1, 203.0.113.9"),
            ("x-forwarded-for", "192.168.0.1"),
        ]);
        assert_eq!(proxies.client(ip("10.0.0.5"), &chain).0, ip("203.0.113.9"));
        let only_proxies = headers(&[("x-forwarded-for", "10.0.0.7, 192.168.0.1")]);
        assert_eq!(
            proxies.client(ip("10.0.0.5"), &only_proxies).0,
            ip("10.0.0.7")
        );
        let nothing = HeaderMap::new();
        assert_eq!(proxies.client(ip("10.0.0.5"), &nothing).0, ip("10.0.0.5"));
    }

    #[test]
    fn rfc_7239_forwarded_is_read_when_there_is_no_x_forwarded_for() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let forwarded = headers(&[(
            "forwarded",
            r#"for=192.0.2.60;proto=https, for="[2001:db8:cafe::17]:4711""#,
        )]);
        assert_eq!(
            proxies.client(ip("10.0.0.5"), &forwarded).0,
            ip("2001:db8:cafe::17")
        );
        let unknown = headers(&[("forwarded", "for=unknown, for=198.51.100.4:80")]);
        assert_eq!(
            proxies.client(ip("10.0.0.5"), &unknown).0,
            ip("198.51.100.4")
        );
    }

    #[test]
    fn an_ipv6_client_is_its_64_and_a_mapped_ipv4_client_its_address() {
        let a = ClientAddr(ip("2001:db8:1:2:aaaa::1")).key();
        let b = ClientAddr(ip("2001:db8:1:2:bbbb::2")).key();
        assert_eq!(a, b);
        assert_ne!(a, ClientAddr(ip("2001:db8:1:3::1")).key());
        assert_eq!(ClientAddr(ip("::ffff:192.0.2.1")).key(), ip("192.0.2.1"));
    }

    #[test]
    fn a_bad_list_names_the_bad_item() {
        let error = TrustedProxies::parse("10.0.0.0/8, proxy.local").unwrap_err();
        assert!(error.contains("proxy.local"), "{error}");
    }
}
