//! The SSRF guard: web-hooks may only reach public addresses, checked after DNS
//! resolution, over https, unless the operator allows private or insecure targets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use url::Url;

/// Why a web-hook URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsrfError {
    /// Not http or https.
    #[error("only https URLs are accepted")]
    Scheme,
    /// http while insecure targets are not allowed: results and their signatures would
    /// cross the network in clear.
    #[error("the URL is http; web-hooks must use https (an operator can allow http targets with allowInsecureWebhooks)")]
    Insecure,
    /// No host.
    #[error("the URL has no host")]
    NoHost,
    /// The host does not resolve.
    #[error("the host does not resolve: {0}")]
    Unresolvable(String),
    /// An address the host resolves to is not public.
    #[error("the host is or resolves to a {kind} address; web-hooks must reach public addresses (an operator can allow private targets)")]
    Forbidden {
        /// The address.
        addr: IpAddr,
        /// Loopback, private, link-local, ...
        kind: &'static str,
    },
}

/// What kind of non-public address `ip` is, if it is one.
pub fn forbidden_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_kind(v4),
            None => v6_kind(v6),
        },
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip == Ipv4Addr::new(169, 254, 169, 254) {
        Some("cloud metadata")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || a == 0 {
        Some("non-unicast")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else if a == 198 && (b == 18 || b == 19) {
        Some("benchmarking")
    } else if a == 192 && b == 0 && c == 0 {
        Some("IETF protocol assignment")
    } else if a >= 240 {
        Some("reserved")
    } else {
        None
    }
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    let first = segments[0];
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    // Forms that carry an IPv4 address reach that address: judge it instead.
    if segments[..6] == [0; 6] && !ip.is_loopback() && !ip.is_unspecified() {
        // IPv4-compatible (deprecated) ::a.b.c.d.
        return v4_kind(embedded(segments[6], segments[7])).or(Some("IPv4-compatible"));
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64 well-known prefix.
        return v4_kind(embedded(segments[6], segments[7]));
    }
    if first == 0x2002 {
        // 6to4.
        return v4_kind(embedded(segments[1], segments[2])).or(Some("6to4"));
    }
    if segments[..6] == [0, 0, 0, 0, 0xffff, 0] {
        // IPv4-translated ::ffff:0:a.b.c.d.
        return v4_kind(embedded(segments[6], segments[7])).or(Some("IPv4-translated"));
    }
    if first & 0xffc0 == 0xfec0 {
        return Some("site-local");
    }
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() || ip.is_multicast() {
        Some("non-unicast")
    } else if first & 0xfe00 == 0xfc00 {
        Some("unique-local")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else {
        None
    }
}

/// Checks URLs and filters resolved addresses.
#[derive(Debug, Clone, Copy)]
pub struct Guard {
    allow_private: bool,
    allow_insecure: bool,
}

impl Guard {
    /// A guard; `allow_private` lets every address through.
    pub fn new(allow_private: bool) -> Self {
        Self {
            allow_private,
            allow_insecure: false,
        }
    }

    /// The guard, letting `http` URLs through if `allow` (for tests and demos on one
    /// machine; private addresses are a separate choice).
    pub fn with_insecure(self, allow: bool) -> Self {
        Self {
            allow_insecure: allow,
            ..self
        }
    }

    /// Whether `http` URLs are let through.
    pub fn allows_insecure(&self) -> bool {
        self.allow_insecure
    }

    /// Refuses `addr` unless it is public (or private targets are allowed).
    pub fn check_addr(&self, addr: IpAddr) -> Result<(), SsrfError> {
        match forbidden_kind(addr) {
            Some(kind) if !self.allow_private => Err(SsrfError::Forbidden { addr, kind }),
            _ => Ok(()),
        }
    }

    /// Checks a URL's scheme and every address its host resolves to now.
    pub async fn check_url(&self, url: &Url) -> Result<(), SsrfError> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_insecure => {}
            "http" => return Err(SsrfError::Insecure),
            _ => return Err(SsrfError::Scheme),
        }
        let host = url.host_str().ok_or(SsrfError::NoHost)?;
        let port = url.port_or_known_default().unwrap_or(443);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.check_addr(ip);
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| SsrfError::Unresolvable(e.to_string()))?
            .collect();
        if addrs.is_empty() {
            return Err(SsrfError::Unresolvable("no addresses".into()));
        }
        addrs.iter().try_for_each(|a| self.check_addr(a.ip()))
    }
}

/// A resolver for the delivery client that drops non-public addresses at connect time,
/// so a host that resolved to a public address at registration cannot be re-pointed at
/// an internal one (DNS rebinding).
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    guard: Guard,
}

impl GuardedResolver {
    /// A resolver applying `guard`.
    pub fn new(guard: Guard) -> Arc<Self> {
        Arc::new(Self { guard })
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.guard;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|a| guard.check_addr(a.ip()).is_ok())
                .collect();
            if allowed.is_empty() {
                return Err(
                    format!("{host} resolves only to addresses web-hooks may not reach").into(),
                );
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn private_targets_are_refused_unless_allowed() {
        // http allowed, so that only the address decides.
        let strict = Guard::new(false).with_insecure(true);
        for url in [
            "http://127.0.0.1/hook",
            "http://10.1.2.3/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:8080/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://[fd00::1]/hook",
            "http://localhost:9/hook",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2002:7f00:1::]/",
            "http://[::ffff:0:7f00:1]/",
            "http://[fec0::1]/",
            "http://198.18.0.1/",
            "http://240.0.0.1/",
            "http://2130706433/",
        ] {
            let url = Url::parse(url).unwrap();
            assert!(
                strict.check_url(&url).await.is_err(),
                "{url} must be refused"
            );
        }
        assert_eq!(
            strict
                .check_url(&Url::parse("ftp://8.8.8.8/").unwrap())
                .await,
            Err(SsrfError::Scheme)
        );
        assert!(strict
            .check_url(&Url::parse("https://8.8.8.8/hook").unwrap())
            .await
            .is_ok());
        let open = Guard::new(true).with_insecure(true);
        assert!(open
            .check_url(&Url::parse("http://127.0.0.1:1/").unwrap())
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn http_is_refused_unless_insecure_targets_are_allowed() {
        // Allowing private targets does not allow http.
        for guard in [Guard::new(false), Guard::new(true)] {
            assert_eq!(
                guard
                    .check_url(&Url::parse("http://8.8.8.8/hook").unwrap())
                    .await,
                Err(SsrfError::Insecure)
            );
            assert!(guard
                .check_url(&Url::parse("HTTPS://8.8.8.8/hook").unwrap())
                .await
                .is_ok());
        }
        let insecure = Guard::new(false).with_insecure(true);
        assert!(insecure
            .check_url(&Url::parse("http://8.8.8.8/hook").unwrap())
            .await
            .is_ok());
        assert_eq!(
            insecure
                .check_url(&Url::parse("http://127.0.0.1/hook").unwrap())
                .await,
            Err(SsrfError::Forbidden {
                addr: "127.0.0.1".parse().unwrap(),
                kind: "loopback"
            }),
            "allowing http does not allow private targets"
        );
        assert!(SsrfError::Insecure
            .to_string()
            .contains("allowInsecureWebhooks"));
    }
}
