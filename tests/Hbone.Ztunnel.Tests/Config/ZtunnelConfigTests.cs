using System.Collections;
using Hbone.Ztunnel.Config;

namespace Hbone.Ztunnel.Tests.Config;

public sealed class ZtunnelConfigTests
{
    [Fact]
    public void Defaults_match_ztunnel()
    {
        ZtunnelConfig c = ZtunnelConfig.FromEnvironment(new Hashtable());
        Assert.Null(c.LocalXdsPath);
        Assert.Equal("cluster.local", c.TrustDomain);
        Assert.Equal("Kubernetes", c.ClusterId);
        Assert.Equal("", c.Network);
        Assert.True(c.DnsProxy);
        Assert.Equal("127.0.0.1:15053", c.DnsProxyAddress.ToString());
        Assert.Equal("/etc/resolv.conf", c.DnsResolvConf);
        Assert.Equal((15001, 15006, 15008, 15080), (c.OutboundPort, c.InboundPlaintextPort, c.InboundPort, c.Socks5Port));
        Assert.Equal((15000, 15020, 15021), (c.AdminPort, c.StatsPort, c.ReadinessPort));
        Assert.Equal("/var/run/ztunnel/ztunnel.sock", c.InpodUds);
        Assert.Equal(TimeSpan.FromSeconds(5), c.DrainDeadline);
        Assert.Equal(100, c.PoolMaxStreamsPerConnection);
        Assert.Equal(TimeSpan.FromMinutes(5), c.PoolUnusedReleaseTimeout);
    }

    [Fact]
    public void Reads_every_variable()
    {
        var env = new Hashtable
        {
            ["LOCAL_XDS_PATH"] = "/etc/zt/config.yaml", ["NODE_NAME"] = "node-a", ["POD_NAMESPACE"] = "istio-system",
            ["TRUST_DOMAIN"] = "example.org", ["CLUSTER_ID"] = "c1", ["NETWORK"] = "net1", ["ISTIO_META_DNS_CAPTURE"] = "false",
            ["OUTBOUND_PORT"] = "1", ["INBOUND_PLAINTEXT_PORT"] = "2", ["INBOUND_PORT"] = "3", ["SOCKS5_PORT"] = "4",
            ["ISTIO_META_DNS_PROXY_ADDR"] = "localhost:5", ["DNS_RESOLV_CONF"] = "/tmp/resolv.conf", ["ADMIN_PORT"] = "6", ["STATS_PORT"] = "7", ["READINESS_PORT"] = "8", ["INPOD_UDS"] = "/tmp/z.sock",
            ["TERMINATION_GRACE_PERIOD"] = "1500ms", ["POOL_MAX_STREAMS_PER_CONNECTION"] = "7", ["POOL_UNUSED_RELEASE_TIMEOUT"] = "30s",
        };
        ZtunnelConfig c = ZtunnelConfig.FromEnvironment(env);
        Assert.Equal(("/etc/zt/config.yaml", "node-a", "istio-system"), (c.LocalXdsPath, c.NodeName, c.PodNamespace));
        Assert.Equal(("example.org", "c1", "net1", false), (c.TrustDomain, c.ClusterId, c.Network, c.DnsProxy));
        Assert.Equal(("127.0.0.1:5", "/tmp/resolv.conf"), (c.DnsProxyAddress.ToString(), c.DnsResolvConf));
        Assert.Equal((1, 2, 3, 4, 6, 7, 8), (c.OutboundPort, c.InboundPlaintextPort, c.InboundPort, c.Socks5Port, c.AdminPort, c.StatsPort, c.ReadinessPort));
        Assert.Equal("/tmp/z.sock", c.InpodUds);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), c.DrainDeadline);
        Assert.Equal(7, c.PoolMaxStreamsPerConnection);
        Assert.Equal(TimeSpan.FromSeconds(30), c.PoolUnusedReleaseTimeout);
    }

    [Fact]
    public void Grace_period_seconds_wins_over_the_duration_form()
    {
        var env = new Hashtable { ["TERMINATION_GRACE_PERIOD"] = "1m", ["TERMINATION_GRACE_PERIOD_SECONDS"] = "30" };
        Assert.Equal(TimeSpan.FromSeconds(30), ZtunnelConfig.FromEnvironment(env).DrainDeadline);
    }

    [Theory]
    [InlineData("INBOUND_PORT", "70000", "INBOUND_PORT: '70000' is not an integer in [1, 65535]")]
    [InlineData("ADMIN_PORT", "abc", "ADMIN_PORT: 'abc' is not an integer in [1, 65535]")]
    [InlineData("ISTIO_META_DNS_CAPTURE", "maybe", "ISTIO_META_DNS_CAPTURE: 'maybe' is not a boolean (true or false)")]
    [InlineData("ISTIO_META_DNS_PROXY_ADDR", "15053", "ISTIO_META_DNS_PROXY_ADDR: '15053' is not an address with a port (127.0.0.1:15053, [::1]:15053 or localhost:15053)")]
    [InlineData("TRUST_DOMAIN", "Bad Domain", "TRUST_DOMAIN: 'Bad Domain' is not a SPIFFE trust domain")]
    [InlineData("POOL_MAX_STREAMS_PER_CONNECTION", "0", "POOL_MAX_STREAMS_PER_CONNECTION: '0' is not an integer in [1, 2147483647]")]
    [InlineData("POOL_UNUSED_RELEASE_TIMEOUT", "0s", "POOL_UNUSED_RELEASE_TIMEOUT: '0s' is not a positive duration (e.g. 500ms, 5s, 5m, 1h)")]
    [InlineData("TERMINATION_GRACE_PERIOD", "5x", "TERMINATION_GRACE_PERIOD: '5x' is not a duration (e.g. 500ms, 5s, 5m, 1h)")]
    [InlineData("TERMINATION_GRACE_PERIOD_SECONDS", "-1", "TERMINATION_GRACE_PERIOD_SECONDS: '-1' is not an integer in [0, 2147483647]")]
    public void Bad_values_are_one_line_errors_naming_the_variable(string name, string value, string message)
    {
        var e = Assert.Throws<ZtunnelConfigException>(() => ZtunnelConfig.FromEnvironment(new Hashtable { [name] = value }));
        Assert.Equal(message, e.Message);
        Assert.Equal(name, e.Variable);
    }
}
