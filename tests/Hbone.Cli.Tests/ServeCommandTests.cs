using System.Text;
using Hbone.Cli.Tests.Infrastructure;

namespace Hbone.Cli.Tests;

public sealed class ServeCommandTests(DevelopmentCertificates certs) : IClassFixture<DevelopmentCertificates>, IAsyncLifetime
{
    private readonly EchoServer _echo = new();

    [Fact]
    public async Task Serve_tunnels_bytes_to_the_authority_and_logs_one_access_line()
    {
        using var serve = HboneProcess.Start(certs.ServeArgs());
        var (address, identity) = await serve.WaitForListeningAsync();
        Assert.Equal(DevelopmentCertificates.ServerId, identity);

        var authority = _echo.EndPoint.ToString();
        var echoed = await RoundTripAsync(address, certs.File("client.pem"), certs.File("client.key"), authority, "hello through hbone");

        Assert.Equal("hello through hbone", echoed);
        var line = await serve.WaitForStdoutAsync(l => l.Contains("outcome=", StringComparison.Ordinal));
        Assert.Contains("status=200", line, StringComparison.Ordinal);
        Assert.Contains($"peer={DevelopmentCertificates.ClientId}", line, StringComparison.Ordinal);
        Assert.Contains($"authority={authority}", line, StringComparison.Ordinal);
        Assert.Contains("outcome=completed", line, StringComparison.Ordinal);
        Assert.Single(serve.Stdout);
    }

    [Fact]
    public async Task Serve_with_allow_answers_401_to_other_identities_and_logs_it()
    {
        using var serve = HboneProcess.Start(certs.ServeArgs("--allow", DevelopmentCertificates.ClientId));
        var (address, _) = await serve.WaitForListeningAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));

        await using (var refused = await TunnelClient.ConnectAsync(address, certs.File("intruder.pem"), certs.File("intruder.key"), _echo.EndPoint.ToString(), timeout.Token))
        {
            Assert.Equal(401, refused.Status);
        }

        var line = await serve.WaitForStdoutAsync(l => l.Contains("status=", StringComparison.Ordinal));
        Assert.Contains("status=401", line, StringComparison.Ordinal);
        Assert.Contains($"peer={DevelopmentCertificates.IntruderId}", line, StringComparison.Ordinal);

        // The allowed identity still gets through.
        Assert.Equal("allowed", await RoundTripAsync(address, certs.File("client.pem"), certs.File("client.key"), _echo.EndPoint.ToString(), "allowed"));
    }

    [Fact]
    public async Task Serve_with_openssl_made_certificates_tunnels()
    {
        using var pki = new TempDirectory();
        await OpenSslPki.CreateAsync(pki.Path);
        using var serve = HboneProcess.Start("serve", "--listen", "127.0.0.1:0", "--cert", pki.File("server.pem"), "--key", pki.File("server.key"), "--ca", pki.File("ca.pem"));
        var (address, identity) = await serve.WaitForListeningAsync();
        Assert.Equal(DevelopmentCertificates.ServerId, identity);

        var echoed = await RoundTripAsync(address, pki.File("client.pem"), pki.File("client.key"), _echo.EndPoint.ToString(), "openssl pki");

        Assert.Equal("openssl pki", echoed);
        var line = await serve.WaitForStdoutAsync(l => l.Contains("outcome=", StringComparison.Ordinal));
        Assert.Contains("status=200", line, StringComparison.Ordinal);
        Assert.Contains($"peer={DevelopmentCertificates.ClientId}", line, StringComparison.Ordinal);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _echo.DisposeAsync();

    private static async Task<string> RoundTripAsync(string address, string cert, string key, string authority, string text)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await using var tunnel = await TunnelClient.ConnectAsync(address, cert, key, authority, timeout.Token);
        Assert.Equal(200, tunnel.Status);
        await tunnel.SendAsync(Encoding.UTF8.GetBytes(text), endStream: true, timeout.Token);
        return Encoding.UTF8.GetString(await tunnel.ReadToEndAsync(timeout.Token));
    }
}
