using Hbone.Istio.ControlPlane;

namespace Hbone.Istio.Tests.ControlPlane;

public sealed class ControlPlaneChannelTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hbone-istio-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Headers_carry_the_token_read_afresh_the_cluster_id_and_extra_headers()
    {
        string token = Path.Combine(_dir, "istio-token");
        File.WriteAllText(token, "first\n");
        var options = new IstioConnectionOptions { RootCertificate = "SYSTEM", TokenPath = token, ClusterId = "c1" };
        options.Headers["X-Extra"] = "v";
        using var channel = new ControlPlaneChannel(options);

        Assert.Equal("Bearer first", channel.CreateHeaders().GetValue("authorization"));
        File.WriteAllText(token, "second");
        var headers = channel.CreateHeaders();
        Assert.Equal("Bearer second", headers.GetValue("authorization"));
        Assert.Equal("c1", headers.GetValue("clusterid"));
        Assert.Equal("v", headers.GetValue("x-extra"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_missing_or_empty_token_file_is_a_typed_error(bool exists)
    {
        string token = Path.Combine(_dir, "istio-token");
        if (exists)
        {
            File.WriteAllText(token, "  \n");
        }

        using var channel = new ControlPlaneChannel(new IstioConnectionOptions { RootCertificate = "SYSTEM", TokenPath = token });
        var ex = Assert.Throws<IstioException>(() => channel.CreateHeaders());
        Assert.Equal(IstioErrorReason.TokenUnavailable, ex.Reason);
        Assert.Contains(token, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_root_certificate_file_fails_at_construction()
    {
        var ex = Assert.Throws<IstioException>(() => new ControlPlaneChannel(new IstioConnectionOptions { RootCertificate = Path.Combine(_dir, "nope.pem") }));
        Assert.Equal(IstioErrorReason.RootCertificateUnavailable, ex.Reason);
    }

    [Fact]
    public void A_relative_address_is_invalid_options()
    {
        var ex = Assert.Throws<IstioException>(() => new ControlPlaneChannel(new IstioConnectionOptions { RootCertificate = "SYSTEM", Address = new Uri("/x", UriKind.Relative) }));
        Assert.Equal(IstioErrorReason.InvalidOptions, ex.Reason);
    }
}
