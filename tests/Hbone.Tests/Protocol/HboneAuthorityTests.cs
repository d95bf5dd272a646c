using System.Net;
using Hbone.Protocol;

namespace Hbone.Tests.Protocol;

public class HboneAuthorityTests
{
    [Theory]
    [Trait("case", "CON-04")]
    [InlineData("", AuthorityError.Empty)]
    [InlineData("10.0.0.1", AuthorityError.MissingPort)]
    [InlineData("echo.default.svc.cluster.local", AuthorityError.MissingPort)]
    [InlineData("10.0.0.1:", AuthorityError.MissingPort)]
    [InlineData("[::1]", AuthorityError.MissingPort)]
    [InlineData("[::1]:", AuthorityError.MissingPort)]
    [InlineData("10.0.0.1:0", AuthorityError.InvalidPort)]
    [InlineData("10.0.0.1:65536", AuthorityError.InvalidPort)]
    [InlineData("10.0.0.1:100000", AuthorityError.InvalidPort)]
    [InlineData("10.0.0.1:080", AuthorityError.InvalidPort)]
    [InlineData("10.0.0.1:+80", AuthorityError.InvalidPort)]
    [InlineData("10.0.0.1:-1", AuthorityError.InvalidPort)]
    [InlineData("10.0.0.1: 80", AuthorityError.InvalidPort)]
    [InlineData("10.0.0.1:8o", AuthorityError.InvalidPort)]
    [InlineData("[fd00::1]:0", AuthorityError.InvalidPort)]
    [InlineData("fd00::1:80", AuthorityError.BracketlessIPv6)]
    [InlineData("::1", AuthorityError.BracketlessIPv6)]
    [InlineData("fe80::1%eth0:80", AuthorityError.BracketlessIPv6)]
    [InlineData("a:b:c", AuthorityError.InvalidHost)]
    [InlineData("user@10.0.0.1:80", AuthorityError.UserInfo)]
    [InlineData("user:pass@echo.default:80", AuthorityError.UserInfo)]
    [InlineData(":80", AuthorityError.InvalidHost)]
    [InlineData("1.2.3.256:80", AuthorityError.InvalidHost)]
    [InlineData("01.2.3.4:80", AuthorityError.InvalidHost)]
    [InlineData("1.2.3:80", AuthorityError.InvalidHost)]
    [InlineData("0x7f.0.0.1:80", AuthorityError.InvalidHost)]
    [InlineData("-echo.default:80", AuthorityError.InvalidHost)]
    [InlineData("echo-.default:80", AuthorityError.InvalidHost)]
    [InlineData("echo..default:80", AuthorityError.InvalidHost)]
    [InlineData("echo.default.:80", AuthorityError.InvalidHost)]
    [InlineData("echo_1.default:80", AuthorityError.InvalidHost)]
    [InlineData("ech o:80", AuthorityError.InvalidHost)]
    [InlineData("échо.default:80", AuthorityError.InvalidHost)]
    [InlineData("[fd00::1]x:80", AuthorityError.InvalidHost)]
    [InlineData("[fd00::1]80", AuthorityError.InvalidHost)]
    [InlineData("[fd00::1%eth0]:80", AuthorityError.InvalidIPv6)]
    [InlineData("[fd00::1:80", AuthorityError.InvalidIPv6)]
    [InlineData("[10.0.0.1]:80", AuthorityError.InvalidIPv6)]
    [InlineData("[fd00::1/64]:80", AuthorityError.InvalidIPv6)]
    [InlineData("[fd00::g]:80", AuthorityError.InvalidIPv6)]
    [InlineData("[]:80", AuthorityError.InvalidIPv6)]
    public void CON_04_rejects_invalid_authority_with_exact_error(string value, AuthorityError expected)
    {
        Assert.False(HboneAuthority.TryParse(value, out HboneAuthority authority, out AuthorityError error));
        Assert.Equal(expected, error);
        Assert.Equal(default, authority);
    }

    [Theory]
    [Trait("case", "CON-04")]
    [InlineData(300, AuthorityError.HostTooLong)]
    [InlineData(254, AuthorityError.HostTooLong)]
    [InlineData(253, AuthorityError.None)]
    public void CON_04_host_length_limit_is_253(int hostLength, AuthorityError expected)
    {
        string host = LongHost(hostLength);

        bool ok = HboneAuthority.TryParse(host + ":80", out HboneAuthority authority, out AuthorityError error);

        Assert.Equal(expected, error);
        Assert.Equal(expected == AuthorityError.None, ok);
        Assert.Equal(ok ? host : string.Empty, authority.Host);
    }

    [Fact]
    [Trait("case", "CON-04")]
    public void CON_04_label_longer_than_63_is_invalid()
    {
        string label = new('a', 64);

        Assert.False(HboneAuthority.TryParse(label + ".svc:80", out _, out AuthorityError error));
        Assert.Equal(AuthorityError.InvalidHost, error);
        Assert.True(HboneAuthority.TryParse(label[..63] + ".svc:80", out _, out _));
    }

    [Fact]
    [Trait("case", "CON-04")]
    public void CON_04_unknown_hostname_is_syntactically_valid_so_the_server_answers_503_not_400()
    {
        Assert.True(HboneAuthority.TryParse("nosuch.nowhere.svc.cluster.local:8080", out HboneAuthority authority, out AuthorityError error));
        Assert.Equal(AuthorityError.None, error);
        Assert.False(authority.IsIPAddress);
        Assert.Null(authority.ToIPEndPoint());
    }

    [Theory]
    [Trait("case", "CON-04")]
    [InlineData("10.0.0.1:80", "10.0.0.1", 80, true, "10.0.0.1:80")]
    [InlineData("0.0.0.0:1", "0.0.0.0", 1, true, "0.0.0.0:1")]
    [InlineData("255.255.255.255:65535", "255.255.255.255", 65535, true, "255.255.255.255:65535")]
    [InlineData("[fd00::1]:80", "fd00::1", 80, true, "[fd00::1]:80")]
    [InlineData("[FD00:0:0:0:0:0:0:1]:8080", "fd00::1", 8080, true, "[fd00::1]:8080")]
    [InlineData("[::ffff:10.0.0.1]:80", "::ffff:10.0.0.1", 80, true, "[::ffff:10.0.0.1]:80")]
    [InlineData("[::]:15008", "::", 15008, true, "[::]:15008")]
    [InlineData("echo.default.svc.cluster.local:80", "echo.default.svc.cluster.local", 80, false, "echo.default.svc.cluster.local:80")]
    [InlineData("Echo.Default.SVC.cluster.local:80", "echo.default.svc.cluster.local", 80, false, "echo.default.svc.cluster.local:80")]
    [InlineData("localhost:9", "localhost", 9, false, "localhost:9")]
    [InlineData("1-2.example.123a:443", "1-2.example.123a", 443, false, "1-2.example.123a:443")]
    public void CON_04_accepts_valid_authority(string value, string host, int port, bool isIp, string formatted)
    {
        Assert.True(HboneAuthority.TryParse(value, out HboneAuthority authority, out AuthorityError error));

        Assert.Equal(AuthorityError.None, error);
        Assert.Equal(host, authority.Host);
        Assert.Equal(port, authority.Port);
        Assert.Equal(isIp, authority.IsIPAddress);
        Assert.Equal(formatted, authority.ToString());
        Assert.Equal(authority, HboneAuthority.Parse(formatted));
    }

    [Fact]
    public void Address_matches_the_literal()
    {
        HboneAuthority v4 = HboneAuthority.Parse("10.1.2.3:80");
        HboneAuthority v6 = HboneAuthority.Parse("[fd00::1]:443");

        Assert.Equal(IPAddress.Parse("10.1.2.3"), v4.Address);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.1.2.3"), 80), v4.ToIPEndPoint());
        Assert.Equal(new IPEndPoint(IPAddress.Parse("fd00::1"), 443), v6.ToIPEndPoint());
    }

    [Theory]
    [Trait("case", "CON-04")]
    [InlineData("10.0.0.1", nameof(AuthorityError.MissingPort))]
    [InlineData("fd00::1:80", nameof(AuthorityError.BracketlessIPv6))]
    [InlineData("a@b:1", nameof(AuthorityError.UserInfo))]
    public void CON_04_Parse_throws_HboneException_naming_the_error(string value, string errorName)
    {
        HboneException ex = Assert.Throws<HboneException>(() => HboneAuthority.Parse(value));

        Assert.Equal(HboneErrorReason.InvalidAuthority, ex.Reason);
        Assert.Equal(400, ex.StatusCode);
        Assert.Contains(errorName, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Equality_is_by_canonical_host_and_port()
    {
        Assert.Equal(HboneAuthority.Parse("ECHO.default:80"), HboneAuthority.Parse("echo.default:80"));
        Assert.True(HboneAuthority.Parse("[fd00:0::1]:80") == HboneAuthority.Parse("[fd00::1]:80"));
        Assert.True(HboneAuthority.Parse("10.0.0.1:80") != HboneAuthority.Parse("10.0.0.1:81"));
        Assert.Equal(HboneAuthority.Parse("echo.default:80").GetHashCode(), HboneAuthority.Parse("Echo.Default:80").GetHashCode());
    }

    [Fact]
    public void FromEndPoint_matches_Parse_and_drops_the_scope_id()
    {
        var v4 = new IPEndPoint(IPAddress.Parse("10.244.0.2"), 8080);
        var scoped = new IPEndPoint(IPAddress.Parse("fe80::1%2"), 80);

        Assert.Equal(HboneAuthority.Parse("10.244.0.2:8080"), HboneAuthority.FromEndPoint(v4));
        Assert.Equal("[fe80::1]:80", HboneAuthority.FromEndPoint(scoped).ToString());
        Assert.Equal(0, HboneAuthority.FromEndPoint(scoped).Address!.ScopeId);
        Assert.Throws<ArgumentOutOfRangeException>(() => HboneAuthority.FromEndPoint(new IPEndPoint(IPAddress.Loopback, 0)));
    }

    [Fact]
    public void Default_value_has_empty_host()
    {
        HboneAuthority authority = default;

        Assert.Equal(string.Empty, authority.Host);
        Assert.False(authority.IsIPAddress);
        Assert.Equal(":0", authority.ToString());
    }

    internal static string LongHost(int length)
    {
        // Labels of 63 'a's joined by dots, cut to length (the lengths used here never end on a dot).
        var chars = new char[length];
        for (int i = 0; i < length; i++)
        {
            chars[i] = (i + 1) % 64 == 0 ? '.' : 'a';
        }
        return new string(chars);
    }
}
