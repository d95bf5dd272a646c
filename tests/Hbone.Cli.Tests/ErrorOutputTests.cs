using System.Net;
using System.Net.Sockets;
using Hbone.Cli.Tests.Infrastructure;

namespace Hbone.Cli.Tests;

/// <summary>Bad input: exit code 1 and one line <c>hbone: error: ...</c> on stderr naming the problem, never a stack trace.</summary>
public sealed class ErrorOutputTests(DevelopmentCertificates certs) : IClassFixture<DevelopmentCertificates>, IDisposable
{
    private readonly TempDirectory _temp = new();

    [Fact]
    public async Task Serve_with_a_missing_cert_file_names_the_file()
    {
        var missing = _temp.File("missing.pem");
        await AssertOneLineErrorAsync([missing, "file not found"], "serve", "--listen", "127.0.0.1:0", "--cert", missing, "--key", certs.File("server.key"), "--ca", certs.File("ca.pem"));
    }

    [Fact]
    public async Task Serve_with_malformed_pem_names_the_file()
    {
        var garbage = _temp.File("garbage.pem");
        await File.WriteAllTextAsync(garbage, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
        await AssertOneLineErrorAsync([garbage], "serve", "--listen", "127.0.0.1:0", "--cert", garbage, "--key", certs.File("server.key"), "--ca", certs.File("ca.pem"));
    }

    [Fact]
    public async Task Serve_with_a_key_that_does_not_match_the_certificate_says_so()
    {
        await AssertOneLineErrorAsync([certs.File("client.key"), "does not match"], "serve", "--listen", "127.0.0.1:0", "--cert", certs.File("server.pem"), "--key", certs.File("client.key"), "--ca", certs.File("ca.pem"));
    }

    [Theory]
    [InlineData("nonsense")]
    [InlineData("1.2.3.4")]
    [InlineData("127.0.0.1:99999")]
    public async Task Serve_with_a_bad_listen_address_names_it(string listen)
    {
        await AssertOneLineErrorAsync([$"'{listen}'"], "serve", "--listen", listen, "--cert", certs.File("server.pem"), "--key", certs.File("server.key"), "--ca", certs.File("ca.pem"));
    }

    [Fact]
    public async Task Serve_without_required_options_says_which_in_one_line()
    {
        await AssertOneLineErrorAsync(["'--cert'", "'--key'", "'--ca'", "hbone serve --help"], "serve", "--listen", "127.0.0.1:0");
    }

    [Fact]
    public async Task Serve_on_a_port_in_use_names_the_address()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var address = taken.LocalEndpoint.ToString()!;

        await AssertOneLineErrorAsync([address, "in use"], "serve", "--listen", address, "--cert", certs.File("server.pem"), "--key", certs.File("server.key"), "--ca", certs.File("ca.pem"));
    }

    [Fact]
    public async Task Serve_with_an_invalid_allow_id_names_it()
    {
        await AssertOneLineErrorAsync(["--allow", "'http://cluster.local/ns/a/sa/b'"], certs.ServeArgs("--allow", "http://cluster.local/ns/a/sa/b"));
    }

    [Theory]
    [InlineData("justaname")]
    [InlineData("a/b/c")]
    [InlineData("spiffe://cluster.local")]
    [InlineData("spiffe://other.domain/ns/a/sa/b")]
    [InlineData("spiffe://UPPER/ns/a/sa/b")]
    public async Task Certs_with_a_bad_identity_names_it_and_writes_nothing(string identity)
    {
        var output = _temp.File("out");
        await AssertOneLineErrorAsync(["--identity", $"'{identity}'"], "certs", "--out", output, "--identity", identity);
        Assert.False(Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any(), "no files are written for bad input");
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("serve", "--help")]
    [InlineData("certs", "--help")]
    public async Task Help_prints_usage_and_exits_0(params string[] args)
    {
        var (code, stdout, stderr) = await HboneProcess.RunAsync(args);

        Assert.Equal(0, code);
        Assert.Empty(stderr);
        Assert.Contains(stdout, l => l.StartsWith("Usage:", StringComparison.Ordinal));
        Assert.Contains(stdout, l => l.Trim().StartsWith("hbone", StringComparison.Ordinal));
    }

    public void Dispose() => _temp.Dispose();

    private static async Task AssertOneLineErrorAsync(string[] mustName, params string[] args)
    {
        var (code, stdout, stderr) = await HboneProcess.RunAsync(args);
        var all = $"exit {code}{Environment.NewLine}stdout: {string.Join(Environment.NewLine, stdout)}{Environment.NewLine}stderr: {string.Join(Environment.NewLine, stderr)}";

        Assert.True(code == 1, all);
        Assert.True(stderr.Count == 1, all);
        Assert.StartsWith("hbone: error: ", stderr[0], StringComparison.Ordinal);
        foreach (var fragment in mustName)
        {
            Assert.Contains(fragment, stderr[0], StringComparison.Ordinal);
        }

        Assert.DoesNotContain(stderr.Concat(stdout), l => l.Contains("   at ", StringComparison.Ordinal));
    }
}
