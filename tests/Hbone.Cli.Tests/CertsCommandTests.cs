using System.Runtime.Versioning;
using Hbone.Cli.Tests.Infrastructure;
using Hbone.Identity;

namespace Hbone.Cli.Tests;

public sealed class CertsCommandTests : IDisposable
{
    private readonly TempDirectory _out = new();

    [Fact]
    public async Task Certs_writes_a_ca_and_an_svid_per_identity_that_load_and_validate()
    {
        var (code, stdout, stderr) = await HboneProcess.RunAsync(
            "certs", "--out", _out.Path, "--identity", "default/client", "--identity", "spiffe://cluster.local/ns/default/sa/server");

        Assert.True(code == 0, string.Join('\n', stderr));
        Assert.Equal(2, stdout.Count);
        var bundle = TrustBundle.FromPem("cluster.local", await File.ReadAllTextAsync(_out.File("ca.pem")));
        var validator = new SvidValidator(bundle);
        foreach (var (name, role) in new[] { ("client", SvidRole.Client), ("server", SvidRole.Server) })
        {
            using var source = new PemFileCertificateSource(_out.File(name + ".pem"), _out.File(name + ".key"), _out.File("ca.pem"));
            var svid = source.GetSvid();
            Assert.Equal($"spiffe://cluster.local/ns/default/sa/{name}", svid.Id.ToString());
            Assert.Equal(svid.Id, validator.Validate(svid.Certificate, svid.Intermediates, role));
        }
    }

    [Fact]
    [SupportedOSPlatform("linux")]
    public async Task Certs_writes_private_keys_readable_by_the_owner_only()
    {
        var (code, _, stderr) = await HboneProcess.RunAsync("certs", "--out", _out.Path, "--identity", "default/client");

        Assert.True(code == 0, string.Join('\n', stderr));
        foreach (var key in new[] { "ca.key", "client.key" })
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_out.File(key)));
        }

        Assert.True(File.Exists(_out.File("ca.pem")) && File.Exists(_out.File("client.pem")));
    }

    public void Dispose() => _out.Dispose();
}
