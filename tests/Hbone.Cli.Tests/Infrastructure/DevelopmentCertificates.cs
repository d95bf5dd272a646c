namespace Hbone.Cli.Tests.Infrastructure;

/// <summary>A CA, a server SVID (default/server) and client SVIDs (default/client, other/intruder) made once by <c>hbone certs</c>.</summary>
public sealed class DevelopmentCertificates : IAsyncLifetime
{
    private readonly TempDirectory _directory = new();

    public const string ServerId = "spiffe://cluster.local/ns/default/sa/server";
    public const string ClientId = "spiffe://cluster.local/ns/default/sa/client";
    public const string IntruderId = "spiffe://cluster.local/ns/other/sa/intruder";

    public string Directory => _directory.Path;

    public string File(string name) => _directory.File(name);

    /// <summary>The serve arguments that present the server SVID and trust the CA.</summary>
    public string[] ServeArgs(params string[] extra) =>
        ["serve", "--listen", "127.0.0.1:0", "--cert", File("server.pem"), "--key", File("server.key"), "--ca", File("ca.pem"), .. extra];

    public async Task InitializeAsync()
    {
        var (code, _, stderr) = await HboneProcess.RunAsync("certs", "--out", Directory, "--identity", "default/server", "--identity", "default/client", "--identity", "other/intruder");
        Assert.True(code == 0, $"hbone certs failed ({code}): {string.Join('\n', stderr)}");
    }

    public Task DisposeAsync()
    {
        _directory.Dispose();
        return Task.CompletedTask;
    }
}
