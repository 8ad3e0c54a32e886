//! The client's address, for the login limits and the audit log: the TCP peer, or, when the
//! peer is a reverse proxy named with `--trusted-proxy`, the address that proxy says it
//! forwarded for, in the one header it is configured to write (`--forwarded-header`:
//! `X-Forwarded-For` by default, or `Forwarded`). The other header is never read: proxies
//! pass a client's own copy of the header they do not write through untouched.
//!
//! The forwarding headers are read right to left, skipping the trusted proxies in the chain:
//! the first address that is not one of them is the client. Whatever a client writes further
//! left is its own claim and is never believed; a peer that is not trusted has its headers
//! ignored altogether.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::state::AppState;

/// Which header the trusted proxies write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ForwardedHeader {
    #[default]
    XForwardedFor,
    Forwarded,
}

/// The trusted proxies and the header they write.
#[derive(Clone, Debug, Default)]
pub struct Proxies {
    pub trusted: Arc<[IpNet]>,
    pub header: ForwardedHeader,
}

/// The client's address as the request shows it, given the trusted proxies.
pub fn client_ip(parts: &Parts, proxies: &Proxies) -> Option<IpAddr> {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())?;
    Some(behind_proxies(peer, &parts.headers, proxies))
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    trusted.iter().any(|net| net.contains(&ip))
}

/// Walks the forwarding chain from `peer` back towards the client.
pub fn behind_proxies(peer: IpAddr, headers: &HeaderMap, proxies: &Proxies) -> IpAddr {
    let trusted = &proxies.trusted[..];
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let chain = forwarded_for(headers, proxies.header);
    let mut client = peer;
    for hop in chain.iter().rev() {
        match hop {
            Some(ip) => {
                client = *ip;
                if !is_trusted(*ip, trusted) {
                    break;
                }
            }
            // An address the proxy could not or would not give (`unknown`, an obfuscated
            // name): stop at the last one known.
            None => break,
        }
    }
    client
}

/// The `for` addresses of `Forwarded` (RFC 7239) or of `X-Forwarded-For`, in order; an
/// entry that is not an address is `None`.
fn forwarded_for(headers: &HeaderMap, which: ForwardedHeader) -> Vec<Option<IpAddr>> {
    let values = |name: &str| -> Vec<String> {
        headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect()
    };
    if which == ForwardedHeader::Forwarded {
        return values("forwarded")
            .iter()
            .flat_map(|v| v.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.trim().split_once('='))
                    .find(|(k, _)| k.eq_ignore_ascii_case("for"))
                    .and_then(|(_, v)| parse_node(v))
            })
            .collect();
    }
    values("x-forwarded-for").iter().flat_map(|v| v.split(',')).map(parse_node).collect()
}

/// An address as forwarding headers write it: `192.0.2.1`, `192.0.2.1:4711`,
/// `"[2001:db8::1]:4711"`, `2001:db8::1`.
fn parse_node(v: &str) -> Option<IpAddr> {
    let v = v.trim().trim_matches('"');
    if let Ok(ip) = v.parse() {
        return Some(ip);
    }
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok());
    }
    v.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok())
}

/// The client's address as an extractor (`None` in tests without a listener).
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts, &state.proxies)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_trusted_proxies_are_believed() {
        let nets: Vec<IpNet> = vec!["127.0.0.0/8".parse().unwrap(), "10.9.0.0/16".parse().unwrap()];
        let xff_proxies = Proxies { trusted: nets.clone().into(), header: ForwardedHeader::XForwardedFor };
        let fwd_proxies = Proxies { trusted: nets.into(), header: ForwardedHeader::Forwarded };
        let none = Proxies::default();
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        let xff = headers(&[("x-forwarded-for", "198.51.100.7, 203.0.113.9")]);
        // From the proxy: the rightmost address that is not a proxy.
        assert_eq!(behind_proxies(ip("127.0.0.1"), &xff, &xff_proxies), ip("203.0.113.9"));
        // A chain of two proxies.
        let two = headers(&[("x-forwarded-for", "203.0.113.9, 10.9.1.1")]);
        assert_eq!(behind_proxies(ip("127.0.0.1"), &two, &xff_proxies), ip("203.0.113.9"));
        // From anyone else the headers are a claim, not a fact.
        assert_eq!(behind_proxies(ip("192.0.2.50"), &xff, &xff_proxies), ip("192.0.2.50"));
        assert_eq!(behind_proxies(ip("127.0.0.1"), &xff, &none), ip("127.0.0.1"));
        // Only the configured header counts: a client's own `Forwarded` passed through by an
        // X-Forwarded-For proxy is ignored, and the other way round.
        let both = headers(&[
            ("forwarded", r#"for="[2001:db8::1]:4711";proto=https, for=10.9.3.3"#),
            ("x-forwarded-for", "198.51.100.7"),
        ]);
        assert_eq!(behind_proxies(ip("127.0.0.1"), &both, &xff_proxies), ip("198.51.100.7"));
        assert_eq!(behind_proxies(ip("127.0.0.1"), &both, &fwd_proxies), ip("2001:db8::1"));
        let unknown = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(behind_proxies(ip("127.0.0.1"), &unknown, &fwd_proxies), ip("127.0.0.1"));
        assert_eq!(behind_proxies(ip("::ffff:127.0.0.1"), &xff, &xff_proxies), ip("203.0.113.9"));
    }
}
