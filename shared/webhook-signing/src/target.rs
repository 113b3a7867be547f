//! Where a webhook may be delivered. A URL is checked once without the network when it is
//! registered ([`check_url`]) and again before every delivery ([`check_target`]): the host is
//! resolved, every address checked, and the request sent only to those checked addresses
//! ([`pinned_client`]), so a name that later resolves elsewhere cannot redirect us into our
//! own network.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use url::{Host, Url};

use crate::address::{classify, AddressClass};

/// What a deployment lets webhook URLs point at. The default is the production policy: https
/// only, public addresses only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    /// Accept `http://` URLs as well as `https://`.
    pub allow_http: bool,
    /// Accept private, loopback, link-local and carrier-grade NAT addresses (tests, local
    /// development). Unspecified, multicast and reserved addresses are refused regardless.
    pub allow_private: bool,
}

impl Policy {
    fn permits(self, class: AddressClass) -> bool {
        class == AddressClass::Public || (self.allow_private && class.is_local_network())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("the URL must use https")]
    HttpsRequired,
    #[error("the URL must use http or https")]
    UnsupportedScheme,
    #[error("the URL has no host")]
    MissingHost,
    #[error("the URL's host could not be resolved")]
    Unresolvable(#[source] io::Error),
    #[error("the URL's host resolves to no address")]
    NoAddresses,
    // The address stays out of the message: it may describe a network the URL's owner should
    // not learn about.
    #[error("the URL's host is a {class} address, which webhooks may not be sent to")]
    Forbidden { ip: IpAddr, class: AddressClass },
    #[error("could not build the HTTP client")]
    Client(#[source] reqwest::Error),
}

/// The checks that need no network: the scheme, a host, and the address when the host is an IP
/// literal. For validating a URL when it is registered.
pub fn check_url(url: &Url, policy: Policy) -> Result<(), TargetError> {
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        "http" => return Err(TargetError::HttpsRequired),
        _ => return Err(TargetError::UnsupportedScheme),
    }
    match url.host() {
        None => Err(TargetError::MissingHost),
        Some(Host::Domain("")) => Err(TargetError::MissingHost),
        Some(Host::Domain(_)) => Ok(()),
        Some(Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip), policy),
        Some(Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip), policy),
    }
}

/// [`check_url`], then resolves the host and checks every address it resolves to; one forbidden
/// address refuses the whole URL. Deliver only to the addresses returned, through
/// [`pinned_client`].
pub async fn check_target(url: &Url, policy: Policy) -> Result<Vec<SocketAddr>, TargetError> {
    check_url(url, policy)?;
    let port = url
        .port_or_known_default()
        .ok_or(TargetError::UnsupportedScheme)?;
    let addrs: Vec<SocketAddr> = match url.host() {
        Some(Host::Domain(domain)) => tokio::net::lookup_host((domain, port))
            .await
            .map_err(TargetError::Unresolvable)?
            .collect(),
        Some(Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        None => return Err(TargetError::MissingHost),
    };
    if addrs.is_empty() {
        return Err(TargetError::NoAddresses);
    }
    for addr in &addrs {
        check_ip(addr.ip(), policy)?;
    }
    Ok(addrs)
}

/// A client for one request to `url` that connects only to `addrs` (from [`check_target`]),
/// gives up after `timeout` (connecting, sending and reading the response together), follows
/// no redirects and ignores proxy settings, since either would send the request somewhere that
/// was not checked.
pub fn pinned_client(
    url: &Url,
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Result<reqwest::Client, TargetError> {
    if addrs.is_empty() {
        return Err(TargetError::NoAddresses);
    }
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout);
    // An IP literal is connected to as it is; it was checked by `check_target` itself.
    if let Some(Host::Domain(domain)) = url.host() {
        builder = builder.resolve_to_addrs(domain, addrs);
    }
    builder.build().map_err(TargetError::Client)
}

fn check_ip(ip: IpAddr, policy: Policy) -> Result<(), TargetError> {
    let class = classify(ip);
    if policy.permits(class) {
        Ok(())
    } else {
        Err(TargetError::Forbidden { ip, class })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: Policy = Policy {
        allow_http: false,
        allow_private: false,
    };
    const LOCAL: Policy = Policy {
        allow_http: true,
        allow_private: true,
    };

    fn url(raw: &str) -> Url {
        Url::parse(raw).expect("a valid URL")
    }

    fn refused_class(result: Result<impl std::fmt::Debug, TargetError>) -> AddressClass {
        match result {
            Err(TargetError::Forbidden { class, .. }) => class,
            other => panic!("expected a forbidden address, got {other:?}"),
        }
    }

    #[test]
    fn https_is_required_unless_http_is_allowed() {
        assert!(matches!(
            check_url(&url("http://93.184.215.14/"), STRICT),
            Err(TargetError::HttpsRequired)
        ));
        let http_allowed = Policy {
            allow_http: true,
            ..STRICT
        };
        assert!(check_url(&url("http://93.184.215.14/"), http_allowed).is_ok());
        assert!(check_url(&url("https://hooks.example.com/in"), STRICT).is_ok());
    }

    #[test]
    fn other_schemes_are_refused_whatever_the_policy() {
        for raw in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "gopher://example.com/",
        ] {
            assert!(
                matches!(check_url(&url(raw), LOCAL), Err(TargetError::UnsupportedScheme)),
                "{raw}"
            );
        }
    }

    #[tokio::test]
    async fn literal_addresses_of_each_refused_class_are_refused() {
        let cases = [
            ("https://10.0.0.5/", AddressClass::Private),
            ("https://172.16.3.4/", AddressClass::Private),
            ("https://192.168.0.10/", AddressClass::Private),
            ("https://[fd00::1]/", AddressClass::Private),
            ("https://127.0.0.1/", AddressClass::Loopback),
            ("https://[::1]/", AddressClass::Loopback),
            (
                "https://169.254.169.254/latest/meta-data",
                AddressClass::LinkLocal,
            ),
            ("https://[fe80::1]/", AddressClass::LinkLocal),
            ("https://100.64.1.1/", AddressClass::SharedCgnat),
            ("https://0.0.0.0/", AddressClass::Unspecified),
            ("https://[::]/", AddressClass::Unspecified),
            ("https://224.0.0.1/", AddressClass::Multicast),
            ("https://[ff02::1]/", AddressClass::Multicast),
            ("https://255.255.255.255/", AddressClass::Reserved),
            ("https://[::ffff:127.0.0.1]/", AddressClass::Loopback),
            ("https://[::ffff:192.168.1.1]/", AddressClass::Private),
            ("https://[::ffff:169.254.169.254]/", AddressClass::LinkLocal),
            // Spellings the URL parser turns into 127.0.0.1.
            ("https://127.1/", AddressClass::Loopback),
            ("https://0x7f000001/", AddressClass::Loopback),
            ("https://2130706433/", AddressClass::Loopback),
        ];
        for (raw, class) in cases {
            assert_eq!(refused_class(check_url(&url(raw), STRICT)), class, "{raw}");
            assert_eq!(
                refused_class(check_target(&url(raw), STRICT).await),
                class,
                "{raw}"
            );
        }
    }

    #[tokio::test]
    async fn a_public_literal_address_is_returned_with_its_port() {
        let addrs = check_target(&url("https://93.184.215.14/hook"), STRICT)
            .await
            .expect("public");
        assert_eq!(addrs, vec!["93.184.215.14:443".parse().expect("socket address")]);
        let addrs = check_target(&url("https://[2606:4700::1111]:8443/"), STRICT)
            .await
            .expect("public");
        assert_eq!(
            addrs,
            vec!["[2606:4700::1111]:8443".parse().expect("socket address")]
        );
    }

    #[tokio::test]
    async fn a_hostname_resolving_to_loopback_is_refused() {
        let result = check_target(&url("https://localhost:8443/hook"), STRICT).await;
        assert_eq!(refused_class(result), AddressClass::Loopback);
    }

    #[tokio::test]
    async fn allowing_private_addresses_lets_local_networks_through_but_nothing_else() {
        let addrs = check_target(&url("http://localhost:8080/hook"), LOCAL)
            .await
            .expect("allowed");
        assert!(!addrs.is_empty());
        assert!(addrs
            .iter()
            .all(|addr| addr.ip().is_loopback() && addr.port() == 8080));
        for raw in [
            "http://10.1.2.3/",
            "http://169.254.169.254/",
            "http://100.64.0.1/",
            "http://[fd00::1]/",
        ] {
            assert!(check_target(&url(raw), LOCAL).await.is_ok(), "{raw}");
        }
        for raw in ["http://0.0.0.0/", "http://224.0.0.1/", "http://255.255.255.255/"] {
            assert!(check_target(&url(raw), LOCAL).await.is_err(), "{raw}");
        }
    }

    #[test]
    fn the_refusal_message_does_not_name_the_address() {
        let error = check_url(&url("https://10.9.8.7/"), STRICT).expect_err("private");
        let message = error.to_string();
        assert!(message.contains("private"));
        assert!(!message.contains("10.9.8.7"));
    }
}
