using System.Net;
using Hbone.Protocol;

namespace Hbone.Tests.Protocol;

public class ForwardedHeaderTests
{
    [Fact]
    public void Rfc7239_obfuscated_identifier()
    {
        ForwardedElement element = Assert.Single(Parse("for=\"_gazonk\""));

        Assert.Equal("_gazonk", element.For);
        Assert.Null(element.ForEndPoint);
    }

    [Fact]
    public void Rfc7239_quoted_ipv6_with_port_and_uppercase_parameter_name()
    {
        ForwardedElement element = Assert.Single(Parse("For=\"[2001:db8:cafe::17]:4711\""));

        Assert.Equal("[2001:db8:cafe::17]:4711", element.For);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8:cafe::17"), 4711), element.ForEndPoint);
    }

    [Fact]
    public void Rfc7239_for_proto_by()
    {
        ForwardedElement element = Assert.Single(Parse("for=192.0.2.60;proto=http;by=203.0.113.43"));

        Assert.Equal("192.0.2.60", element.For);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.60"), 0), element.ForEndPoint);
        Assert.Equal("http", element.Proto);
        Assert.Equal("203.0.113.43", element.By);
        Assert.Null(element.Host);
    }

    [Fact]
    public void Rfc7239_two_elements()
    {
        IReadOnlyList<ForwardedElement> elements = Parse("for=192.0.2.43, for=198.51.100.17");

        Assert.Equal(2, elements.Count);
        Assert.Equal("192.0.2.43", elements[0].For);
        Assert.Equal("198.51.100.17", elements[1].For);
    }

    [Fact]
    public void Hbone_value_with_service_host()
    {
        ForwardedElement element = Assert.Single(Parse("for=\"10.244.0.2:40123\";host=echo.default.svc.cluster.local"));

        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.244.0.2"), 40123), element.ForEndPoint);
        Assert.Equal("echo.default.svc.cluster.local", element.Host);
    }

    [Theory]
    [InlineData("for=unknown", "unknown")]
    [InlineData("for=UNKNOWN", "UNKNOWN")]
    [InlineData("for=\"unknown:_p1\"", "unknown:_p1")]
    [InlineData("for=\"_hidden:8080\"", "_hidden:8080")]
    public void Unknown_and_obfuscated_nodes_have_no_endpoint(string value, string forNode)
    {
        ForwardedElement element = Assert.Single(Parse(value));

        Assert.Equal(forNode, element.For);
        Assert.Null(element.ForEndPoint);
    }

    [Theory]
    [InlineData("for=\"192.0.2.43\"", "192.0.2.43", 0)]
    [InlineData("for=\"[2001:db8::1]\"", "2001:db8::1", 0)]
    [InlineData("for=\"192.0.2.43:_obf\"", "192.0.2.43", 0)]
    [InlineData("for=\"192.0.2.43:0080\"", "192.0.2.43", 80)]
    [InlineData("for=\"\\1\\9\\2.0.2.43:1\"", "192.0.2.43", 1)]
    public void Endpoint_port_is_zero_when_absent_or_obfuscated(string value, string address, int port)
    {
        Assert.Equal(new IPEndPoint(IPAddress.Parse(address), port), ForwardedHeader.ParseFirst(value)?.ForEndPoint);
    }

    [Theory]
    [InlineData("")]
    [InlineData("  ,  , ")]
    [InlineData("for")]
    [InlineData("for=")]
    [InlineData("=1.2.3.4")]
    [InlineData("for = 1.2.3.4")]
    [InlineData("for=192.0.2.43:80")]
    [InlineData("for=[2001:db8::1]")]
    [InlineData("for=\"2001:db8::1\"")]
    [InlineData("for=\"[2001:db8::1\"")]
    [InlineData("for=\"[fe80::1%eth0]:1\"")]
    [InlineData("for=\"1.2.3.4:65536\"")]
    [InlineData("for=\"1.2.3.4:\"")]
    [InlineData("for=\"1.2.3.4:_\"")]
    [InlineData("for=\"\"")]
    [InlineData("for=_")]
    [InlineData("for=example.com")]
    [InlineData("for=\"1.2.3.4")]
    [InlineData("for=\"1.2.3.4\\\"")]
    [InlineData("for=1.2.3.4;for=5.6.7.8")]
    [InlineData("for=1.2.3.4;FOR=5.6.7.8")]
    [InlineData("host=a;Host=b")]
    [InlineData("ext=1;EXT=2")]
    [InlineData("proto=1http")]
    [InlineData("host=\"\"")]
    [InlineData("for=1.2.3.4 x")]
    [InlineData("for=1.2.3.4, garbage")]
    [InlineData("for=\"1.2.3.4\r\n\"")]
    [InlineData("host=\"a\u0100\"")]
    public void Invalid_values_are_rejected_whole(string value)
    {
        Assert.False(ForwardedHeader.TryParse(value, out IReadOnlyList<ForwardedElement> elements));
        Assert.Empty(elements);
        Assert.Null(ForwardedHeader.ParseFirst(value));
    }

    [Fact]
    public void Too_many_extension_parameters_are_rejected()
    {
        string sixteen = string.Join(';', Enumerable.Range(0, 16).Select(i => $"x{i}=1"));

        Assert.True(ForwardedHeader.TryParse("for=1.2.3.4;" + sixteen, out _));
        Assert.False(ForwardedHeader.TryParse("for=1.2.3.4;" + sixteen + ";x16=1", out _));
    }

    [Fact]
    public void Extension_parameters_are_ignored_and_empty_pairs_allowed()
    {
        ForwardedElement element = Assert.Single(Parse("for=1.2.3.4;;secret=\"x y\";"));

        Assert.Equal("1.2.3.4", element.For);
    }

    [Fact]
    public void Quoted_pair_unescapes_host()
    {
        ForwardedElement element = Assert.Single(Parse("for=1.2.3.4;host=\"a\\\"b\\\\c\""));

        Assert.Equal("a\"b\\c", element.Host);
    }

    [Fact]
    [Trait("case", "ADV-08")]
    public void ADV_08_two_elements_in_one_value_and_ParseFirst_takes_the_first()
    {
        const string value = "for=\"1.2.3.4:1\",for=\"5.6.7.8:2\"";

        IReadOnlyList<ForwardedElement> elements = Parse(value);

        Assert.Equal(2, elements.Count);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("1.2.3.4"), 1), elements[0].ForEndPoint);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("5.6.7.8"), 2), elements[1].ForEndPoint);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("1.2.3.4"), 1), ForwardedHeader.ParseFirst(value)!.ForEndPoint);
    }

    [Fact]
    [Trait("case", "ADV-08")]
    public void ADV_08_comma_and_semicolon_inside_quoted_string_do_not_split()
    {
        ForwardedElement element = Assert.Single(Parse("for=1.2.3.4;host=\"a,for=9.9.9.9;b\""));

        Assert.Equal("a,for=9.9.9.9;b", element.Host);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("1.2.3.4"), 0), element.ForEndPoint);
    }

    [Fact]
    [Trait("case", "ADV-08")]
    public void ADV_08_two_header_values_are_parsed_separately()
    {
        ForwardedElement? first = ForwardedHeader.ParseFirst("for=\"10.0.0.1:1\";host=a.svc");
        ForwardedElement? second = ForwardedHeader.ParseFirst("for=\"10.0.0.2:2\";host=b.svc");

        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.0.0.1"), 1), first!.ForEndPoint);
        Assert.Equal("a.svc", first.Host);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 2), second!.ForEndPoint);
        Assert.Equal("b.svc", second.Host);
    }

    [Fact]
    [Trait("case", "ADV-05")]
    public void ADV_05_escaped_quote_cannot_break_out_of_a_value()
    {
        // The attacker's text stays inside the for value, which is then not a valid node.
        Assert.Null(ForwardedHeader.ParseFirst("for=\"1.2.3.4\\\";host=kube-system.svc\""));
    }

    [Theory]
    [InlineData("10.0.0.1", 1234, null, "for=\"10.0.0.1:1234\"")]
    [InlineData("fd00::1", 1234, null, "for=\"[fd00::1]:1234\"")]
    [InlineData("fd00::1", 1234, "echo.default.svc.cluster.local", "for=\"[fd00::1]:1234\";host=echo.default.svc.cluster.local")]
    [InlineData("10.0.0.1", 0, null, "for=10.0.0.1")]
    [InlineData("fd00::1", 0, null, "for=\"[fd00::1]\"")]
    [InlineData("10.0.0.1", 80, "", "for=\"10.0.0.1:80\"")]
    [InlineData("10.0.0.1", 80, "echo:8080", "for=\"10.0.0.1:80\";host=\"echo:8080\"")]
    [InlineData("10.0.0.1", 80, "a\"b", "for=\"10.0.0.1:80\";host=\"a\\\"b\"")]
    [InlineData("fe80::1%3", 80, null, "for=\"[fe80::1]:80\"")]
    public void Format_writes_the_hbone_form(string address, int port, string? host, string expected)
    {
        string value = ForwardedHeader.Format(new IPEndPoint(IPAddress.Parse(address), port), host);

        Assert.Equal(expected, value);
        Assert.NotNull(ForwardedHeader.ParseFirst(value));
    }

    [Fact]
    public void Format_rejects_host_with_control_characters()
    {
        Assert.Throws<ArgumentException>(() => ForwardedHeader.Format(new IPEndPoint(IPAddress.Loopback, 1), "a\r\nb"));
    }

    private static IReadOnlyList<ForwardedElement> Parse(string value)
    {
        Assert.True(ForwardedHeader.TryParse(value, out IReadOnlyList<ForwardedElement> elements), value);
        return elements;
    }
}
