use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of network an IP address belongs to, as far as deciding whether we may connect to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    Public,
    /// RFC 1918 (10/8, 172.16/12, 192.168/16), unique-local fc00::/7 and the deprecated
    /// site-local fec0::/10.
    Private,
    /// 127/8 and ::1.
    Loopback,
    /// 169.254/16 (where cloud metadata services live) and fe80::/10.
    LinkLocal,
    /// 100.64/10, carrier-grade NAT.
    SharedCgnat,
    /// 0/8 and ::; connecting to 0.0.0.0 reaches the local host on Linux.
    Unspecified,
    Multicast,
    /// Special-purpose ranges of IANA's registries that are no webhook receiver: 240/4 (with the
    /// broadcast address), IETF protocol assignments (192.0.0/24, 2001::/23), benchmarking
    /// (198.18/15), documentation (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32,
    /// 3fff::/20), the 6to4 relay anycast 192.88.99/24, discard-only 100::/64, local-use NAT64
    /// 64:ff9b:1::/48 and SRv6 SIDs 5f00::/16.
    Reserved,
}

impl AddressClass {
    /// Addresses inside our own or a neighbouring network, which a policy may explicitly allow
    /// (tests, local development). The other non-public classes are never a webhook receiver.
    pub(crate) fn is_local_network(self) -> bool {
        matches!(
            self,
            Self::Private | Self::Loopback | Self::LinkLocal | Self::SharedCgnat
        )
    }
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Public => "public",
            Self::Private => "private",
            Self::Loopback => "loopback",
            Self::LinkLocal => "link-local",
            Self::SharedCgnat => "shared (carrier-grade NAT)",
            Self::Unspecified => "unspecified",
            Self::Multicast => "multicast",
            Self::Reserved => "reserved",
        })
    }
}

pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    match ip.octets() {
        [0, ..] => AddressClass::Unspecified,
        [127, ..] => AddressClass::Loopback,
        [10, ..] | [172, 16..=31, ..] | [192, 168, ..] => AddressClass::Private,
        [169, 254, ..] => AddressClass::LinkLocal,
        [100, 64..=127, ..] => AddressClass::SharedCgnat,
        [224..=239, ..] => AddressClass::Multicast,
        [240..=255, ..]
        | [192, 0, 0, _]
        | [192, 0, 2, _]
        | [192, 88, 99, _]
        | [198, 18..=19, ..]
        | [198, 51, 100, _]
        | [203, 0, 113, _] => AddressClass::Reserved,
        _ => AddressClass::Public,
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    // An IPv6 socket reaches an IPv4-mapped address over IPv4, and a NAT64 gateway
    // (64:ff9b::/96) forwards to the embedded IPv4 address: judge those by the IPv4 address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let segments = ip.segments();
    let o = ip.octets();
    let embedded = |at: usize| classify_v4(Ipv4Addr::new(o[at], o[at + 1], o[at + 2], o[at + 3]));
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return embedded(12);
    }
    // SIIT's IPv4-translated ::ffff:0:a.b.c.d.
    if segments[..6] == [0, 0, 0, 0, 0xffff, 0] {
        return embedded(12);
    }
    // The deprecated IPv4-compatible ::a.b.c.d (but :: and ::1 themselves, below).
    if segments[..6] == [0; 6] && !ip.is_unspecified() && !ip.is_loopback() {
        return embedded(12);
    }
    // 6to4 (2002::/16) carries the IPv4 address of its relay-less peer in bits 16 to 48.
    if segments[0] == 0x2002 {
        return embedded(2);
    }
    let reserved = segments[..3] == [0x64, 0xff9b, 0x0001]
        || segments[..4] == [0x0100, 0, 0, 0]
        || segments[0] == 0x2001 && segments[1] < 0x0200
        || segments[..2] == [0x2001, 0x0db8]
        || segments[0] == 0x3fff && segments[1] & 0xf000 == 0
        || segments[0] == 0x5f00;
    if reserved {
        return AddressClass::Reserved;
    }
    if ip.is_unspecified() {
        AddressClass::Unspecified
    } else if ip.is_loopback() {
        AddressClass::Loopback
    } else if segments[0] & 0xfe00 == 0xfc00 || segments[0] & 0xffc0 == 0xfec0 {
        AddressClass::Private
    } else if segments[0] & 0xffc0 == 0xfe80 {
        AddressClass::LinkLocal
    } else if ip.is_multicast() {
        AddressClass::Multicast
    } else {
        AddressClass::Public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_purpose_ranges_are_never_public() {
        assert_all(
            AddressClass::Reserved,
            &[
                "192.0.0.8",
                "192.0.2.1",
                "192.88.99.1",
                "198.18.0.1",
                "198.19.255.255",
                "198.51.100.7",
                "203.0.113.9",
                "240.0.0.1",
                "64:ff9b:1::a00:1",
                "100::1",
                "2001::1",
                "2001:1ff::1",
                "2001:db8::1",
                "3fff::1",
                "3fff:fff::1",
                "5f00::1",
            ],
        );
        // What wraps an IPv4 address is judged by it.
        assert_eq!(class_of("::127.0.0.1"), AddressClass::Loopback);
        assert_eq!(class_of("::10.1.2.3"), AddressClass::Private);
        assert_eq!(class_of("2002:a9fe:a9fe::1"), AddressClass::LinkLocal);
        assert_eq!(class_of("2002:7f00:1::1"), AddressClass::Loopback);
        assert_eq!(class_of("2002:5db8:d822::1"), AddressClass::Public);
        assert_eq!(class_of("::ffff:0:a9fe:a9fe"), AddressClass::LinkLocal);
        // Neighbours of the ranges stay public.
        assert_all(
            AddressClass::Public,
            &[
                "192.0.3.1",
                "198.17.255.255",
                "198.20.0.1",
                "203.0.114.1",
                "2001:200::1",
                "2606:4700::1111",
            ],
        );
    }

    fn class_of(ip: &str) -> AddressClass {
        classify(ip.parse().expect("an IP address"))
    }

    fn assert_all(class: AddressClass, ips: &[&str]) {
        for ip in ips {
            assert_eq!(class_of(ip), class, "{ip}");
        }
    }

    #[test]
    fn rfc1918_and_unique_local_addresses_are_private() {
        assert_all(
            AddressClass::Private,
            &[
                "10.0.0.1",
                "10.255.255.255",
                "172.16.0.1",
                "172.31.255.255",
                "192.168.1.1",
                "fc00::1",
                "fd12:3456:789a::1",
                "fec0::1",
            ],
        );
        assert_all(
            AddressClass::Public,
            &["172.15.255.255", "172.32.0.1", "192.169.0.1", "11.0.0.1"],
        );
    }

    #[test]
    fn loopback_addresses_are_loopback() {
        assert_all(AddressClass::Loopback, &["127.0.0.1", "127.255.0.9", "::1"]);
    }

    #[test]
    fn link_local_addresses_are_link_local() {
        assert_all(
            AddressClass::LinkLocal,
            &["169.254.169.254", "169.254.0.1", "fe80::1", "febf::1"],
        );
        assert_all(AddressClass::Public, &["169.253.0.1", "fe7f::1"]);
    }

    #[test]
    fn carrier_grade_nat_addresses_are_shared() {
        assert_all(AddressClass::SharedCgnat, &["100.64.0.1", "100.127.255.255"]);
        assert_all(AddressClass::Public, &["100.63.255.255", "100.128.0.1"]);
    }

    #[test]
    fn unspecified_addresses_are_unspecified() {
        assert_all(AddressClass::Unspecified, &["0.0.0.0", "0.1.2.3", "::"]);
    }

    #[test]
    fn multicast_and_reserved_addresses_are_neither_public() {
        assert_all(
            AddressClass::Multicast,
            &["224.0.0.1", "239.255.255.250", "ff02::1", "ff0e::1"],
        );
        assert_all(AddressClass::Reserved, &["240.0.0.1", "255.255.255.255"]);
    }

    #[test]
    fn ipv4_mapped_and_nat64_addresses_are_judged_by_their_ipv4_address() {
        assert_eq!(class_of("::ffff:127.0.0.1"), AddressClass::Loopback);
        assert_eq!(class_of("::ffff:10.1.2.3"), AddressClass::Private);
        assert_eq!(class_of("::ffff:169.254.169.254"), AddressClass::LinkLocal);
        assert_eq!(class_of("::ffff:100.64.0.1"), AddressClass::SharedCgnat);
        assert_eq!(class_of("::ffff:0.0.0.0"), AddressClass::Unspecified);
        assert_eq!(class_of("::ffff:224.0.0.1"), AddressClass::Multicast);
        assert_eq!(class_of("64:ff9b::192.168.0.1"), AddressClass::Private);
        assert_eq!(class_of("::ffff:8.8.8.8"), AddressClass::Public);
    }

    #[test]
    fn ordinary_internet_addresses_are_public() {
        assert_all(
            AddressClass::Public,
            &["8.8.8.8", "93.184.215.14", "2606:4700::1111", "2a00:1450::1"],
        );
    }
}
