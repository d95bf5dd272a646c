using System.Collections;
using Hbone.Ztunnel.Config;

namespace Hbone.Ztunnel.Tests.Config;

/// <summary>The proxy's environment variables: the CA files, log format, workload wait, socket mark, and the proxy's own ports.</summary>
public sealed class ZtunnelConfigProxyTests
{
    [Fact]
    [Trait("case", "ZT-UNIT-40")]
    public void Proxy_defaults()
    {
        ZtunnelConfig c = ZtunnelConfig.FromEnvironment(new Hashtable());

        Assert.Null(c.CaRootCert);
        Assert.Null(c.CaRootKey);
        Assert.False(c.JsonLogs);
        Assert.Equal(TimeSpan.FromSeconds(5), c.WorkloadWaitTimeout);
        Assert.Equal(0x539, c.SocketMark);
        Assert.True(c.ProxyPorts.SetEquals([15001, 15006, 15008, 15080]));
        Assert.Equal(4, c.ProxyPorts.Count);
    }

    [Fact]
    [Trait("case", "ZT-UNIT-40")]
    public void Reads_the_proxy_variables()
    {
        var env = new Hashtable
        {
            ["CA_ROOT_CERT"] = "/etc/ca/root-cert.pem", ["CA_ROOT_KEY"] = " /etc/ca/root-key.pem ", ["LOG_FORMAT"] = "json",
            ["WORKLOAD_WAIT_TIMEOUT"] = "250ms", ["PACKET_MARK"] = "1337",
        };

        ZtunnelConfig c = ZtunnelConfig.FromEnvironment(env);

        Assert.Equal(("/etc/ca/root-cert.pem", "/etc/ca/root-key.pem"), (c.CaRootCert, c.CaRootKey));
        Assert.True(c.JsonLogs);
        Assert.Equal(TimeSpan.FromMilliseconds(250), c.WorkloadWaitTimeout);
        Assert.Equal(1337, c.SocketMark);
    }

    [Theory]
    [Trait("case", "ZT-UNIT-40")]
    [InlineData("json", true)]
    [InlineData("JSON", true)]
    [InlineData("text", false)]
    [InlineData("plain", false)]
    [InlineData("", false)]
    public void LOG_FORMAT_json_in_any_case_selects_json_and_anything_else_text(string value, bool json) =>
        Assert.Equal(json, ZtunnelConfig.FromEnvironment(new Hashtable { ["LOG_FORMAT"] = value }).JsonLogs);

    [Theory]
    [Trait("case", "INT-03")]
    [InlineData("1", 1)]
    [InlineData("1337", 0x539)]
    [InlineData("2147483647", int.MaxValue)]
    public void PACKET_MARK_sets_the_mark_on_pod_sockets(string value, int mark) =>
        Assert.Equal(mark, ZtunnelConfig.FromEnvironment(new Hashtable { ["PACKET_MARK"] = value }).SocketMark);

    [Theory]
    [Trait("case", "MEM-05")]
    [InlineData(null, true)]
    [InlineData("false", false)]
    [InlineData("true", true)]
    public void HBONE_RELEASE_STARTUP_PAGES_is_on_unless_false(string? value, bool release) =>
        Assert.Equal(release, ZtunnelConfig.FromEnvironment(value is null ? new Hashtable() : new Hashtable { ["HBONE_RELEASE_STARTUP_PAGES"] = value }).ReleaseStartupPages);

    [Theory]
    [Trait("case", "ZT-UNIT-40")]
    [InlineData("WORKLOAD_WAIT_TIMEOUT", "0", 0)]
    [InlineData("WORKLOAD_WAIT_TIMEOUT", "2", 2000)]
    [InlineData("WORKLOAD_WAIT_TIMEOUT", "1m", 60_000)]
    public void WORKLOAD_WAIT_TIMEOUT_is_a_duration(string name, string value, int milliseconds) =>
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), ZtunnelConfig.FromEnvironment(new Hashtable { [name] = value }).WorkloadWaitTimeout);

    [Theory]
    [Trait("case", "ZT-UNIT-40")]
    [InlineData("PACKET_MARK", "0", "PACKET_MARK: '0' is not an integer in [1, 2147483647]")]
    [InlineData("PACKET_MARK", "-1", "PACKET_MARK: '-1' is not an integer in [1, 2147483647]")]
    [InlineData("PACKET_MARK", "0x539", "PACKET_MARK: '0x539' is not an integer in [1, 2147483647]")]
    [InlineData("WORKLOAD_WAIT_TIMEOUT", "soon", "WORKLOAD_WAIT_TIMEOUT: 'soon' is not a duration (e.g. 500ms, 5s, 5m, 1h)")]
    [InlineData("HBONE_RELEASE_STARTUP_PAGES", "maybe", "HBONE_RELEASE_STARTUP_PAGES: 'maybe' is not a boolean (true or false)")]
    public void Bad_proxy_values_are_one_line_errors_naming_the_variable(string name, string value, string message)
    {
        var e = Assert.Throws<ZtunnelConfigException>(() => ZtunnelConfig.FromEnvironment(new Hashtable { [name] = value }));
        Assert.Equal(message, e.Message);
        Assert.Equal(name, e.Variable);
    }

    [Fact]
    [Trait("case", "INT-03")]
    public void ProxyPorts_follow_the_port_overrides_and_leave_out_the_other_ports()
    {
        var env = new Hashtable
        {
            ["OUTBOUND_PORT"] = "16001", ["INBOUND_PLAINTEXT_PORT"] = "16006", ["INBOUND_PORT"] = "16008", ["SOCKS5_PORT"] = "16080",
            ["ISTIO_META_DNS_PROXY_ADDR"] = "127.0.0.1:16053", ["ADMIN_PORT"] = "16000",
        };

        ZtunnelConfig c = ZtunnelConfig.FromEnvironment(env);

        Assert.True(c.ProxyPorts.SetEquals([16001, 16006, 16008, 16080]));
        Assert.Equal(4, c.ProxyPorts.Count);
        Assert.True((c with { InboundPort = 17008 }).ProxyPorts.Contains(17008));
    }
}
