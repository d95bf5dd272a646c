using System.Collections;
using Hbone.Ztunnel.Config;

namespace Hbone.Ztunnel.Tests.Config;

public sealed class ZtunnelConfigControlPlaneTests
{
    [Fact]
    public void ZT_ENV_CP_01_without_a_control_plane_the_local_file_and_local_CA_are_used()
    {
        ZtunnelConfig c = ZtunnelConfig.FromEnvironment(new Hashtable { ["LOCAL_XDS_PATH"] = "/etc/zt.yaml" });
        Assert.Null(c.XdsAddress);
        Assert.Null(c.CaAddress);
        Assert.Equal(TimeSpan.FromHours(24), c.SecretTtl);
        Assert.Equal("./var/run/secrets/istio/root-cert.pem", c.XdsRootCa);
    }

    [Fact]
    public void ZT_ENV_CP_02_reads_ztunnels_control_plane_variables()
    {
        var env = new Hashtable
        {
            ["XDS_ADDRESS"] = "https://istiod.istio-system.svc:15012", ["CA_ADDRESS"] = "https://ca.example:15012",
            ["XDS_ROOT_CA"] = "/etc/xds-root.pem", ["CA_ROOT_CA"] = "SYSTEM", ["ALT_XDS_HOSTNAME"] = "istiod.alt", ["ALT_CA_HOSTNAME"] = "ca.alt",
            ["AUTH_TOKEN"] = "/var/run/secrets/tokens/istio-token", ["ISTIO_META_CLUSTER_ID"] = "meta-cluster", ["CLUSTER_ID"] = "plain-cluster",
            ["XDS_HEADER_x-tenant"] = "t1", ["CA_HEADER_x-ca"] = "c1", ["SECRET_TTL"] = "12h", ["POD_NAME"] = "ztunnel-abc", ["POD_NAMESPACE"] = "istio-system",
            ["INSTANCE_IP"] = "10.0.0.5", ["NODE_NAME"] = "node-a", ["ISTIO_METAJSON_LABELS"] = "{\"a\":\"b\"}",
        };
        ZtunnelConfig c = ZtunnelConfig.FromEnvironment(env);
        Assert.Equal(new Uri("https://istiod.istio-system.svc:15012"), c.XdsAddress);
        Assert.Equal(new Uri("https://ca.example:15012"), c.CaAddress);
        Assert.Equal(("/etc/xds-root.pem", "SYSTEM", "istiod.alt", "ca.alt"), (c.XdsRootCa, c.CaRootCa, c.AltXdsHostname, c.AltCaHostname));
        Assert.Equal(("/var/run/secrets/tokens/istio-token", (string?)null), (c.AuthTokenPath, c.AuthToken));
        Assert.Equal("meta-cluster", c.ClusterId);
        Assert.Equal("t1", c.XdsHeaders["x-tenant"]);
        Assert.Equal("c1", c.CaHeaders["x-ca"]);
        Assert.Equal(TimeSpan.FromHours(12), c.SecretTtl);
        Assert.Equal(("ztunnel-abc", "istio-system", "10.0.0.5", "node-a"), (c.PodName, c.PodNamespace, c.InstanceIp, c.NodeName));
        Assert.Equal("meta-cluster", c.ProxyMetadata["CLUSTER_ID"]);
        Assert.Equal("{\"a\":\"b\"}", c.ProxyMetadataJson["LABELS"]);

        var xds = c.XdsConnection();
        Assert.Equal(("/etc/xds-root.pem", "istiod.alt", "meta-cluster"), (xds.RootCertificate, xds.AltHostname, xds.ClusterId));
        Assert.Equal("t1", xds.Headers["x-tenant"]);
        Assert.False(xds.Headers.ContainsKey("x-ca"));
        Assert.Equal(("SYSTEM", "c1"), (c.CaConnection().RootCertificate, c.CaConnection().Headers["x-ca"]));
    }

    [Fact]
    public void ZT_ENV_CP_03_the_CA_defaults_to_istiod_and_a_cluster_defaults_to_istiod()
    {
        Assert.Equal(new Uri("https://cp:15012"), ZtunnelConfig.FromEnvironment(new Hashtable { ["XDS_ADDRESS"] = "https://cp:15012" }).CaAddress);
        ZtunnelConfig inCluster = ZtunnelConfig.FromEnvironment(new Hashtable { ["KUBERNETES_SERVICE_HOST"] = "10.96.0.1" });
        Assert.Equal(new Uri("https://istiod.istio-system.svc:15012"), inCluster.XdsAddress);
        Assert.Equal(inCluster.XdsAddress, inCluster.CaAddress);

        // A local CA keeps certificates local even with istiod's xDS.
        ZtunnelConfig localCa = ZtunnelConfig.FromEnvironment(new Hashtable { ["XDS_ADDRESS"] = "https://cp:15012", ["CERT_DIR"] = "/certs" });
        Assert.Null(localCa.CaAddress);
    }

    [Fact]
    public void ZT_ENV_CP_04_a_token_that_is_not_a_path_is_a_static_token()
    {
        ZtunnelConfig c = ZtunnelConfig.FromEnvironment(new Hashtable { ["XDS_ADDRESS"] = "https://cp:15012", ["AUTH_TOKEN"] = "s3cr3t" });
        Assert.Equal(((string?)null, "s3cr3t"), (c.AuthTokenPath, c.AuthToken));
    }

    [Theory]
    [InlineData("istiod.istio-system.svc:15012", "https://istiod.istio-system.svc:15012")]
    [InlineData("localhost:15012", "https://localhost:15012")]
    [InlineData("http://cp:15010", "http://cp:15010")]
    public void ZT_ENV_CP_03_an_address_without_a_scheme_is_https_as_ztunnel_reads_Istios_chart(string value, string url)
    {
        ZtunnelConfig c = ZtunnelConfig.FromEnvironment(new Hashtable { ["XDS_ADDRESS"] = value, ["CA_ADDRESS"] = value });
        Assert.Equal((new Uri(url), new Uri(url)), (c.XdsAddress, c.CaAddress));
    }

    [Theory]
    [InlineData("XDS_ADDRESS", "ftp://istiod", "XDS_ADDRESS")]
    [InlineData("XDS_ADDRESS", "https://", "XDS_ADDRESS")]
    [InlineData("SECRET_TTL", "0s", "SECRET_TTL")]
    public void ZT_ENV_CP_05_bad_values_name_the_variable(string name, string value, string named)
    {
        var ex = Assert.Throws<ZtunnelConfigException>(() => ZtunnelConfig.FromEnvironment(new Hashtable { [name] = value }));
        Assert.Contains(named, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ZT_ENV_CP_06_two_sources_of_the_same_thing_are_refused()
    {
        var both = Assert.Throws<ZtunnelConfigException>(() => ZtunnelConfig.FromEnvironment(new Hashtable { ["XDS_ADDRESS"] = "https://cp:15012", ["LOCAL_XDS_PATH"] = "/x.yaml" }));
        Assert.Contains("LOCAL_XDS_PATH", both.Message, StringComparison.Ordinal);
        var twoCas = Assert.Throws<ZtunnelConfigException>(() => ZtunnelConfig.FromEnvironment(new Hashtable { ["CA_ADDRESS"] = "https://cp:15012", ["CA_ROOT_CERT"] = "/ca.pem", ["CA_ROOT_KEY"] = "/ca.key" }));
        Assert.Contains("CA_ADDRESS", twoCas.Message, StringComparison.Ordinal);
    }
}
