using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Hbone.Cli.Tests.Infrastructure;

namespace Hbone.Cli.Tests;

/// <summary><c>hbone connect</c> against a real <c>hbone serve</c>: stdin/stdout through one tunnel, exit 0/1/2.</summary>
public sealed class ConnectCommandTests(DevelopmentCertificates certs) : IClassFixture<DevelopmentCertificates>, IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private readonly EchoServer _echo = new();

    [Fact]
    public async Task Connect_pipes_1_MB_from_stdin_to_the_echo_and_back_to_stdout()
    {
        using var serve = HboneProcess.Start(certs.ServeArgs());
        var (address, _) = await serve.WaitForListeningAsync();
        var input = RandomNumberGenerator.GetBytes(1024 * 1024);

        var (code, stdout, stderr) = await BinaryCli.RunAsync(input, Deadline, certs.ClientArgs("connect", address, _echo.EndPoint.ToString()));

        Assert.True(code == 0, $"exit {code}: {string.Join('\n', stderr)}");
        Assert.Empty(stderr);
        Assert.Equal(input.Length, stdout.Length);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(input)), Convert.ToHexString(SHA256.HashData(stdout)));
        var line = await serve.WaitForStdoutAsync(l => l.Contains("outcome=", StringComparison.Ordinal));
        Assert.Contains("status=200", line, StringComparison.Ordinal);
        Assert.Contains($"peer={DevelopmentCertificates.ClientId}", line, StringComparison.Ordinal);
        Assert.Contains($"authority={_echo.EndPoint}", line, StringComparison.Ordinal);
        Assert.Contains($"bytes_recv={input.Length}", line, StringComparison.Ordinal);
        Assert.Contains("outcome=completed", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_with_expect_naming_the_server_identity_tunnels()
    {
        using var serve = HboneProcess.Start(certs.ServeArgs());
        var (address, _) = await serve.WaitForListeningAsync();

        var (code, stdout, stderr) = await BinaryCli.RunAsync(
            Encoding.UTF8.GetBytes("expected server"), Deadline,
            certs.ClientArgs("connect", address, _echo.EndPoint.ToString(), "--expect", DevelopmentCertificates.ServerId));

        Assert.True(code == 0, $"exit {code}: {string.Join('\n', stderr)}");
        Assert.Equal("expected server", Encoding.UTF8.GetString(stdout));
    }

    [Fact]
    [Trait("case", "ID-08")]
    public async Task Connect_with_expect_naming_another_identity_fails_in_one_line_and_opens_no_tunnel()
    {
        using var serve = HboneProcess.Start(certs.ServeArgs());
        var (address, _) = await serve.WaitForListeningAsync();

        var (code, stdout, stderr) = await BinaryCli.RunAsync(
            Encoding.UTF8.GetBytes("must not arrive"), Deadline,
            certs.ClientArgs("connect", address, _echo.EndPoint.ToString(), "--expect", DevelopmentCertificates.IntruderId));

        ClientCommands.AssertOneLine(code, [Encoding.UTF8.GetString(stdout)], stderr, 1, "hbone: error: ", DevelopmentCertificates.ServerId, DevelopmentCertificates.IntruderId);
        Assert.Empty(stdout);

        // An access-log line is written per tunnel; give a (wrongly) opened one time to show up.
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.DoesNotContain(serve.Stdout, l => l.Contains("status=", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Connect_refused_by_the_allow_list_exits_2_with_status_401()
    {
        using var serve = HboneProcess.Start(certs.ServeArgs("--allow", DevelopmentCertificates.IntruderId));
        var (address, _) = await serve.WaitForListeningAsync();

        var (code, stdout, stderr) = await BinaryCli.RunAsync([], Deadline, certs.ClientArgs("connect", address, _echo.EndPoint.ToString()));

        ClientCommands.AssertOneLine(code, [Encoding.UTF8.GetString(stdout)], stderr, 2, "hbone: refused: ", "status=401");
        var line = await serve.WaitForStdoutAsync(l => l.Contains("status=", StringComparison.Ordinal));
        Assert.Contains("status=401", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_to_a_closed_target_port_exits_2_with_status_503()
    {
        using var serve = HboneProcess.Start(certs.ServeArgs());
        var (address, _) = await serve.WaitForListeningAsync();
        var closed = ClientCommands.ClosedPort();

        var (code, stdout, stderr) = await BinaryCli.RunAsync([], Deadline, certs.ClientArgs("connect", address, closed));

        ClientCommands.AssertOneLine(code, [Encoding.UTF8.GetString(stdout)], stderr, 2, "hbone: refused: ", "status=503", closed);
        var line = await serve.WaitForStdoutAsync(l => l.Contains("status=", StringComparison.Ordinal));
        Assert.Contains("status=503", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_exits_0_when_the_server_side_ends_while_stdin_stays_open()
    {
        await using var greeter = new ScriptedTcpServer(async (socket, token) =>
        {
            await socket.SendAsync(Encoding.UTF8.GetBytes("hello from upstream\n"), SocketFlags.None, token);
            socket.Shutdown(SocketShutdown.Send);
        });
        using var serve = HboneProcess.Start(certs.ServeArgs());
        var (address, _) = await serve.WaitForListeningAsync();

        // HboneProcess keeps stdin open and never writes to it: only the server's END_STREAM can end the command.
        using var connect = HboneProcess.Start(certs.ClientArgs("connect", address, greeter.EndPoint.ToString()));
        var code = await connect.WaitForExitAsync(TimeSpan.FromSeconds(30));

        Assert.True(code == 0, $"exit {code}. {connect.Describe()}");
        Assert.Equal(["hello from upstream"], connect.Stdout);
        Assert.Empty(connect.Stderr);
    }

    [Fact]
    public async Task Connect_exits_1_with_one_line_when_the_upstream_resets_the_connection()
    {
        using var upstreamSaw = new SemaphoreSlim(0);
        await using var resetter = new ScriptedTcpServer(async (socket, token) =>
        {
            var buffer = new byte[64];
            await socket.ReceiveAsync(buffer, SocketFlags.None, token);
            socket.LingerState = new LingerOption(true, 0);
            upstreamSaw.Release();
        });
        using var serve = HboneProcess.Start(certs.ServeArgs());
        var (address, _) = await serve.WaitForListeningAsync();

        using var connect = HboneProcess.Start(certs.ClientArgs("connect", address, resetter.EndPoint.ToString()));
        await using (var stdin = connect.StandardInput)
        {
            await stdin.WriteLineAsync("then reset");
            await stdin.FlushAsync();
            Assert.True(await upstreamSaw.WaitAsync(TimeSpan.FromSeconds(30)), $"the upstream got no data. {connect.Describe()}");

            var code = await connect.WaitForExitAsync(TimeSpan.FromSeconds(30));
            ClientCommands.AssertOneLine(code, connect.Stdout, connect.Stderr, 1, "hbone: error: ");
        }
    }

    [Theory]
    [InlineData("via", "nonsense", "'nonsense'")]
    [InlineData("via", "127.0.0.1", "'127.0.0.1'")]
    [InlineData("target", "no-port", "--target 'no-port'")]
    [InlineData("target", "[::1]", "--target '[::1]'")]
    [InlineData("expect", "http://cluster.local/ns/a/sa/b", "--expect 'http://cluster.local/ns/a/sa/b'")]
    [InlineData("cert", "missing.pem", "missing.pem")]
    [InlineData("key", "server.key", "does not match")]
    public async Task Connect_with_bad_input_exits_1_with_one_line_naming_it(string option, string value, string mustName)
    {
        using var temp = new TempDirectory();
        var via = option == "via" ? value : ClientCommands.ClosedPort();
        var target = option == "target" ? value : _echo.EndPoint.ToString();
        var cert = option == "cert" ? temp.File(value) : certs.File("client.pem");
        var key = option == "key" ? certs.File(value) : certs.File("client.key");
        string[] args = ["connect", "--via", via, "--target", target, "--cert", cert, "--key", key, "--ca", certs.File("ca.pem")];
        if (option == "expect")
        {
            args = [.. args, "--expect", value];
        }

        var (code, stdout, stderr) = await BinaryCli.RunAsync([], Deadline, args);

        ClientCommands.AssertOneLine(code, [Encoding.UTF8.GetString(stdout)], stderr, 1, "hbone: error: ", mustName);
    }

    [Theory]
    [InlineData("connect")]
    [InlineData("forward")]
    public async Task Help_of_the_tunnel_client_commands_exits_0(string command)
    {
        var (code, stdout, stderr) = await HboneProcess.RunAsync(command, "--help");

        Assert.Equal(0, code);
        Assert.Empty(stderr);
        Assert.Contains(stdout, l => l.StartsWith("Usage:", StringComparison.Ordinal));
        Assert.Contains(stdout, l => l.Contains("--via", StringComparison.Ordinal));
        Assert.Contains(stdout, l => l.Contains("--expect", StringComparison.Ordinal));
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _echo.DisposeAsync();
}
