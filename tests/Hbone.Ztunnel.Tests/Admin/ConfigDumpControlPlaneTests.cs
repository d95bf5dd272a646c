using System.Text.Json;
using Hbone.Identity;
using Hbone.Ztunnel.Admin;
using Hbone.Ztunnel.Identity;
using Hbone.Ztunnel.State;
using Hbone.Ztunnel.Xds;

namespace Hbone.Ztunnel.Tests.Admin;

public sealed class ConfigDumpControlPlaneTests
{
    [Fact]
    [Trait("case", "ZT-ADMIN-10")]
    public void Config_dump_has_ztunnels_certificates_section_and_the_xds_stream()
    {
        using var ca = new DevelopmentCertificateAuthority();
        using var identities = WorkloadIdentities.FromAuthority(ca);
        var echo = SpiffeId.ForIstio("cluster.local", "default", "echo");
        identities.Prefetch(echo);
        string serial = identities.For(echo).GetSvid().Certificate.SerialNumber;

        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            ConfigDump.Write(writer, WorkloadSnapshot.Empty, [], identities.Describe(), new XdsStatus("https://istiod:15012/", "Connected", true, 2, 5, 4, 1));
        }

        JsonElement root = JsonDocument.Parse(buffer.ToArray()).RootElement;
        JsonElement certificate = Assert.Single(root.GetProperty("certificates").EnumerateArray());
        Assert.Equal(echo.ToString(), certificate.GetProperty("identity").GetString());
        Assert.Equal("Available", certificate.GetProperty("state").GetString());
        JsonElement leaf = Assert.Single(certificate.GetProperty("certChain").EnumerateArray());
        Assert.Equal(serial, leaf.GetProperty("serialNumber").GetString());
        Assert.StartsWith("-----BEGIN CERTIFICATE-----", leaf.GetProperty("pem").GetString(), StringComparison.Ordinal);
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", leaf.GetProperty("expirationTime").GetString());
        Assert.Equal(ca.RootCertificate.SerialNumber, Assert.Single(certificate.GetProperty("rootCerts").EnumerateArray()).GetProperty("serialNumber").GetString());

        JsonElement xds = root.GetProperty("xds");
        Assert.Equal(("https://istiod:15012/", "Connected", true), (xds.GetProperty("address").GetString(), xds.GetProperty("state").GetString(), xds.GetProperty("ready").GetBoolean()));
        Assert.Equal((2, 5, 4, 1), (xds.GetProperty("connects").GetInt64(), xds.GetProperty("responses").GetInt64(), xds.GetProperty("acks").GetInt64(), xds.GetProperty("nacks").GetInt64()));
    }

    [Fact]
    [Trait("case", "ZT-ADMIN-11")]
    public void Without_istiod_the_dump_has_no_xds_object()
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            ConfigDump.Write(writer, WorkloadSnapshot.Empty, []);
        }

        JsonElement root = JsonDocument.Parse(buffer.ToArray()).RootElement;
        Assert.False(root.TryGetProperty("xds", out _));
        Assert.Empty(root.GetProperty("certificates").EnumerateArray());
    }
}
