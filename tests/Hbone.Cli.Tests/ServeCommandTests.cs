using System.Net;
using System.Net.Sockets;
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

    [Fact]
    [Trait("case", "CLI-01")]
    public async Task Serve_takes_no_configuration_from_its_working_directory_and_watches_none_of_it()
    {
        // A working directory that a default ASP.NET Core host would read (a Kestrel endpoint in appsettings.json) and
        // watch for changes, directory by directory.
        using var cwd = new TempDirectory();
        var stray = IPEndPoint.Parse(ClientCommands.ClosedPort());
        await File.WriteAllTextAsync(cwd.File("appsettings.json"), $$"""{ "Kestrel": { "Endpoints": { "Stray": { "Url": "http://{{stray}}" } } } }""");
        var nested = Directory.CreateDirectory(cwd.File("a/b/c")).FullName;

        using var serve = HboneProcess.StartIn(cwd.Path, certs.ServeArgs());
        var (address, _) = await serve.WaitForListeningAsync();
        Assert.Equal("hello", await RoundTripAsync(address, certs.File("client.pem"), certs.File("client.key"), _echo.EndPoint.ToString(), "hello"));

        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var refused = await Assert.ThrowsAsync<SocketException>(async () => await probe.ConnectAsync(stray).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        Assert.DoesNotContain(await InodeAsync(nested), InotifyWatchedInodes(serve.ProcessId));
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _echo.DisposeAsync();

    // Each inotify descriptor's watches, as /proc/PID/fdinfo lists them ("inotify wd:1 ino:1a2b sdev:..."): watched inodes, hex.
    private static HashSet<string> InotifyWatchedInodes(int pid)
    {
        var inodes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var info in Directory.EnumerateFiles($"/proc/{pid}/fdinfo"))
        {
            try
            {
                foreach (var line in File.ReadLines(info))
                {
                    if (line.StartsWith("inotify ", StringComparison.Ordinal) && line.Split(' ').FirstOrDefault(f => f.StartsWith("ino:", StringComparison.Ordinal)) is { } ino)
                    {
                        inodes.Add(ino["ino:".Length..]);
                    }
                }
            }
            catch (IOException)
            {
                // A descriptor closed while listing.
            }
        }

        return inodes;
    }

    private static async Task<string> InodeAsync(string path)
    {
        using var stat = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%i", path]) { RedirectStandardOutput = true })!;
        var output = await stat.StandardOutput.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(10));
        await stat.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, stat.ExitCode);
        return ulong.Parse(output.Trim(), System.Globalization.CultureInfo.InvariantCulture).ToString("x", System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task<string> RoundTripAsync(string address, string cert, string key, string authority, string text)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await using var tunnel = await TunnelClient.ConnectAsync(address, cert, key, authority, timeout.Token);
        Assert.Equal(200, tunnel.Status);
        await tunnel.SendAsync(Encoding.UTF8.GetBytes(text), endStream: true, timeout.Token);
        return Encoding.UTF8.GetString(await tunnel.ReadToEndAsync(timeout.Token));
    }
}
