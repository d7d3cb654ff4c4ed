//! Where a webhook may be sent: the URL guard against server-side request forgery.
//!
//! An endpoint URL must be `https:` and every address its host resolves to must be a public
//! unicast address: private (10/8, 172.16/12, 192.168/16), loopback, link-local (169.254/16,
//! fe80::/10, including cloud metadata services), unique-local (fc00::/7), multicast,
//! unspecified, broadcast, documentation, benchmarking, reserved and CGNAT (100.64/10) addresses
//! are refused, also when written as IPv4-mapped or IPv4-compatible IPv6. The check runs when an
//! endpoint is registered or its URL changes **and at each send**, where the request is pinned to
//! the address just checked (reqwest `resolve`), so a DNS answer that changes between the check
//! and the connection (DNS rebinding) cannot redirect it. Redirects are never followed.
//!
//! `WEBHOOK_ALLOW_PRIVATE_TARGETS=true` allows `http:` and any address (tests, closed networks).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why a URL is refused (the message names the problem for the user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// A URL checked for sending: its host and the address to connect to.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: url::Url,
    pub host: String,
    pub addr: SocketAddr,
}

/// Checks the form of `raw` (no resolution): scheme, host, no credentials, at most 2,048 bytes.
pub fn parse(raw: &str, allow_private: bool) -> Result<url::Url, Refused> {
    if raw.len() > 2048 {
        return Err(Refused("url must be at most 2048 characters".into()));
    }
    let url = url::Url::parse(raw).map_err(|e| Refused(format!("url is not a valid URL ({e})")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err(Refused("url must be an https: URL".into())),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Refused("url must name a host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refused("url must not contain credentials".into()));
    }
    if url.fragment().is_some() {
        return Err(Refused("url must not have a fragment".into()));
    }
    Ok(url)
}

/// Parses `raw`, resolves its host and checks every address; the target to connect to.
pub async fn check(raw: &str, allow_private: bool) -> Result<Target, Refused> {
    let url = parse(raw, allow_private)?;
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = match url.host() {
        Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        _ => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| Refused(format!("url host {host} cannot be resolved")))?
            .collect(),
    };
    let Some(first) = addrs.first().copied() else {
        return Err(Refused(format!("url host {host} cannot be resolved")));
    };
    if !allow_private && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
        return Err(Refused(format!(
            "url resolves to {}, a private or reserved address; webhooks are only sent to public addresses",
            bad.ip()
        )));
    }
    Ok(Target {
        url,
        host,
        addr: first,
    })
}

/// Whether `ip` is a public unicast address a webhook may be sent to.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0/24
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18/15
        || a >= 240) // reserved 240/4
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation 2001:db8::/32
        || first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64 64:ff9b::/96 maps IPv4
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`) or IPv4-compatible (`::a.b.c.d`)
/// IPv6 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    (s[..6] == [0, 0, 0, 0, 0, 0] && !(s[6] == 0 && s[7] <= 1))
        .then(|| Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_unicast_addresses_pass() {
        for (ip, public, why) in [
            ("93.184.216.34", true, "a public IPv4"),
            ("2606:4700:4700::1111", true, "a public IPv6"),
            ("10.0.0.1", false, "private 10/8"),
            ("172.16.5.4", false, "private 172.16/12"),
            ("172.32.0.1", true, "just outside 172.16/12"),
            ("192.168.1.1", false, "private 192.168/16"),
            ("127.0.0.1", false, "loopback"),
            ("169.254.169.254", false, "link-local (cloud metadata)"),
            ("100.64.0.1", false, "CGNAT"),
            ("100.127.255.255", false, "CGNAT end"),
            ("100.128.0.1", true, "just outside CGNAT"),
            ("0.0.0.0", false, "unspecified"),
            ("255.255.255.255", false, "broadcast"),
            ("224.0.0.1", false, "multicast"),
            ("240.0.0.1", false, "reserved"),
            ("198.18.0.1", false, "benchmarking"),
            ("192.0.2.1", false, "documentation"),
            ("::1", false, "IPv6 loopback"),
            ("::", false, "IPv6 unspecified"),
            ("fe80::1", false, "IPv6 link-local"),
            ("fd00::1", false, "IPv6 unique local"),
            ("fc00::1", false, "IPv6 unique local fc"),
            ("ff02::1", false, "IPv6 multicast"),
            ("::ffff:127.0.0.1", false, "IPv4-mapped loopback"),
            ("::ffff:10.1.2.3", false, "IPv4-mapped private"),
            ("::ffff:169.254.169.254", false, "IPv4-mapped metadata"),
            ("::ffff:93.184.216.34", true, "IPv4-mapped public"),
            ("::10.1.2.3", false, "IPv4-compatible private"),
            ("64:ff9b::a00:1", false, "NAT64"),
            ("2001:db8::1", false, "IPv6 documentation"),
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(is_public(ip), public, "{ip}: {why}");
        }
    }

    #[tokio::test]
    async fn urls_must_be_https_and_public_unless_private_targets_are_allowed() {
        for (url, allow, ok) in [
            ("https://10.0.0.1/", false, false),
            ("http://127.0.0.1:8080/hook", false, false),
            ("https://127.0.0.1/", false, false),
            ("https://[::ffff:127.0.0.1]/", false, false),
            ("https://93.184.216.34/hook", false, true),
            ("ftp://93.184.216.34/", false, false),
            ("https://user:pw@93.184.216.34/", false, false),
            ("http://127.0.0.1:8080/hook", true, true),
            ("https://10.0.0.1/", true, true),
            ("ftp://127.0.0.1/", true, false),
            ("not a url", true, false),
        ] {
            assert_eq!(
                check(url, allow).await.is_ok(),
                ok,
                "{url} (allow private: {allow})"
            );
        }
    }
}
