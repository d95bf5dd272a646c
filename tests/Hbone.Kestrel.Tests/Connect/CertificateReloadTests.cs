using System.Security.Cryptography.X509Certificates;
using Hbone.Identity;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Connect;

/// <summary>The server's own SVID reloaded from PEM files while it runs.</summary>
public sealed class CertificateReloadTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly string _directory = Directory.CreateTempSubdirectory("hbone-reload-").FullName;

    [Fact]
    public async Task Rewritten_PEM_files_serve_new_handshakes_without_dropping_live_connections()
    {
        var ca = TestPki.Shared.Ca;
        using var first = ca.IssueIstio("default", "server");
        using var second = ca.IssueIstio("default", "server");
        var cert = Path.Combine(_directory, "server.pem");
        var key = Path.Combine(_directory, "server.key");
        var bundle = Path.Combine(_directory, "ca.pem");
        await WriteAsync(first, cert, key);
        await File.WriteAllTextAsync(bundle, ca.ExportRootPem());
        using var source = new PemFileCertificateSource(cert, key, bundle);
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var server = await HboneTestServer.StartAsync(o => o.Certificate = source);

        await using var live = await server.ConnectProcessingAsync();
        Assert.Equal(first.Certificate.SerialNumber, ServerSerial(live));
        var tunnel = await live.OpenStreamAsync(upstream.Authority);
        Assert.Equal(200, await tunnel.StatusAsync().WaitAsync(Deadline));

        var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        source.Changed += (_, _) => changed.TrySetResult();
        await WriteAsync(second, cert, key);
        await changed.Task.WaitAsync(Deadline);

        await using var fresh = await server.ConnectProcessingAsync();
        Assert.Equal(second.Certificate.SerialNumber, ServerSerial(fresh));

        // The connection made before the reload still tunnels.
        await tunnel.WriteAsync("still here"u8.ToArray());
        await tunnel.EndAsync();
        Assert.Equal("still here"u8.ToArray(), await tunnel.ReadToEndAsync().WaitAsync(Deadline));
    }

    private static string ServerSerial(RawHttp2Connection connection) =>
        new X509Certificate2(connection.Stream.RemoteCertificate!).SerialNumber;

    private static async Task WriteAsync(Svid svid, string cert, string key)
    {
        // Write the key first and the certificate last: the pair is consistent once the last write lands.
        await File.WriteAllTextAsync(key + ".tmp", svid.ExportPrivateKeyPem());
        await File.WriteAllTextAsync(cert + ".tmp", svid.ExportCertificateChainPem());
        File.Move(key + ".tmp", key, overwrite: true);
        File.Move(cert + ".tmp", cert, overwrite: true);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
