using Hbone.Http2;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Interop;

/// <summary>
/// The Kestrel HBONE server against an independent HTTP/2 stack: python3-h2 driven by
/// <c>Interop/hbone_h2_client.py</c> (the same CLI the README demo uses). python3-h2 is a Debian package that CI
/// installs; when it is missing these tests fail with a message saying so, they never skip.
/// </summary>
public sealed class PythonH2InteropTests : IDisposable
{
    private const string Python = "/usr/bin/python3";
    private const int ExitOk = 0, ExitStatus = 2, ExitReset = 3;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private static readonly Lazy<string?> s_h2Missing = new(ProbeH2);

    private readonly string _dir;

    public PythonH2InteropTests()
    {
        _dir = Directory.CreateTempSubdirectory("hbone-h2-interop-").FullName;
        var client = TestPki.Shared.Client;
        File.WriteAllText(Path.Combine(_dir, "client.pem"), client.ExportCertificateChainPem());
        File.WriteAllText(Path.Combine(_dir, "client-key.pem"), client.ExportPrivateKeyPem());
        File.WriteAllText(Path.Combine(_dir, "ca.pem"), TestPki.Shared.Ca.ExportRootPem());
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    [Trait("case", "CON-14")]
    public async Task CON_14_python_h2_client_tunnels_1_MB_byte_exact_through_the_server()
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        var echo = upstream.RunEchoAsync(stop.Token);
        await using var server = await HboneTestServer.StartAsync();
        var payload = RandomNumberGenerator.GetBytes(1024 * 1024);
        var file = Path.Combine(_dir, "payload.bin");
        await File.WriteAllBytesAsync(file, payload);

        var result = await RunClientAsync(
            server.EndPoint,
            "--authority", upstream.Authority,
            "--header", "forwarded:for=\"10.0.0.9:4242\"",
            "--header", "baggage:k8s.namespace.name=default,k8s.pod.name=client",
            "--header", "traceparent:00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
            "--send-file", file);

        Assert.True(result.ExitCode == ExitOk, result.ToString());
        Assert.Contains("status=200", result.Stderr);
        Assert.Equal(payload.Length, result.Stdout.Length);
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(result.Stdout));
        var log = await server.NextLogAsync();
        Assert.Equal(200, log.StatusCode);
        Assert.Equal(TunnelOutcome.Completed, log.Outcome);
        Assert.Equal(payload.Length, log.BytesFromPeer);
        Assert.Equal(payload.Length, log.BytesToPeer);
        Assert.Equal("10.0.0.9:4242", log.ForwardedFor?.ToString());
        Assert.Equal("spiffe://cluster.local/ns/default/sa/client", log.PeerIdentity?.ToString());
        Assert.Equal(1, upstream.Accepted);
        stop.Cancel();
        await echo.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    [Trait("case", "CON-14")]
    public async Task CON_14_python_h2_client_tunnels_stdin_to_stdout()
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        var echo = upstream.RunEchoAsync(stop.Token);
        await using var server = await HboneTestServer.StartAsync();
        var payload = RandomNumberGenerator.GetBytes(200_000);

        var result = await RunClientAsync(server.EndPoint, payload, "--authority", upstream.Authority, "--stdin");

        Assert.True(result.ExitCode == ExitOk, result.ToString());
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(result.Stdout));
        var log = await server.NextLogAsync();
        Assert.Equal(200, log.StatusCode);
        Assert.Equal(payload.Length, log.BytesFromPeer);
        stop.Cancel();
        await echo.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    [Trait("case", "CON-01")]
    public async Task CON_01_python_h2_connect_without_authority_gets_400()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();

        var result = await RunClientAsync(server.EndPoint);

        Assert.True(result.ExitCode == ExitStatus, result.ToString());
        Assert.Contains("status=400", result.Stderr);
        Assert.Empty(result.Stdout);
        Assert.Equal(400, (await server.NextLogAsync()).StatusCode);
        Assert.Equal(0, upstream.AcceptPending());
    }

    [Theory]
    [Trait("case", "CON-04")]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.1:0")]
    [InlineData("127.0.0.1:65536")]
    public async Task CON_04_python_h2_connect_with_a_bad_authority_gets_400(string authority)
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();

        var result = await RunClientAsync(server.EndPoint, "--authority", authority);

        Assert.True(result.ExitCode == ExitStatus, result.ToString());
        Assert.Contains("status=400", result.Stderr);
        var log = await server.NextLogAsync();
        Assert.Equal(400, log.StatusCode);
        Assert.Equal(authority, log.Authority);
        Assert.Equal(0, upstream.AcceptPending());
    }

    /// <summary>Authorization comes from the certificate only: a baggage header naming the allowed identity changes nothing.</summary>
    [Fact]
    [Trait("case", "ADV-05")]
    public async Task ADV_05_python_h2_connect_denied_by_authorize_gets_401_despite_spoofed_headers()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync(forwarder: f =>
            f.Authorize = context => ValueTask.FromResult(context.PeerIdentity.ToString() == "spiffe://cluster.local/ns/default/sa/server"));

        var result = await RunClientAsync(
            server.EndPoint,
            "--authority", upstream.Authority,
            "--header", "baggage:k8s.namespace.name=default,k8s.deployment.name=server,service.name=server",
            "--header", "forwarded:for=\"10.0.0.1:1\"");

        Assert.True(result.ExitCode == ExitStatus, result.ToString());
        Assert.Contains("status=401", result.Stderr);
        var log = await server.NextLogAsync();
        Assert.Equal(401, log.StatusCode);
        Assert.Equal("spiffe://cluster.local/ns/default/sa/client", log.PeerIdentity?.ToString());
        Assert.Equal(0, upstream.AcceptPending());
    }

    [Fact]
    [Trait("case", "CON-13")]
    public async Task CON_13_python_h2_connect_to_a_closed_port_gets_503()
    {
        var closedPort = TcpUpstream.ClosedPort();

        await using var server = await HboneTestServer.StartAsync();

        var result = await RunClientAsync(server.EndPoint, "--authority", $"127.0.0.1:{closedPort}");

        Assert.True(result.ExitCode == ExitStatus, result.ToString());
        Assert.Contains("status=503", result.Stderr);
        var log = await server.NextLogAsync();
        Assert.Equal(503, log.StatusCode);
        Assert.Equal(TunnelOutcome.Refused, log.Outcome);
    }

    /// <summary>The same answer as the raw C# H2-20 test: RST_STREAM PROTOCOL_ERROR on that stream, nothing forwarded.</summary>
    [Fact]
    [Trait("case", "H2-20")]
    public async Task H2_20_python_h2_uppercase_header_name_is_reset_with_protocol_error()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();

        var result = await RunClientAsync(server.EndPoint, "--authority", upstream.Authority, "--header", "X-Upper:1");

        Assert.True(result.ExitCode == ExitReset, result.ToString());
        Assert.Contains($"reset={(int)Http2ErrorCode.ProtocolError}", result.Stderr);
        Assert.DoesNotContain("status=", result.Stderr);
        Assert.Equal(0, upstream.AcceptPending());
        Assert.Null(server.TryNextLog());
    }

    private Task<ClientResult> RunClientAsync(IPEndPoint server, params string[] arguments) =>
        RunClientAsync(server, stdin: null, arguments);

    private async Task<ClientResult> RunClientAsync(IPEndPoint server, byte[]? stdin, params string[] arguments)
    {
        var missing = s_h2Missing.Value;
        Assert.True(missing is null, missing);
        var script = Path.Combine(AppContext.BaseDirectory, "Interop", "hbone_h2_client.py");
        Assert.True(File.Exists(script), $"{script} was not copied to the test output");

        var start = new ProcessStartInfo(Python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])[script, "--server", server.ToString(), "--cert", Path.Combine(_dir, "client.pem"),
                     "--key", Path.Combine(_dir, "client-key.pem"), "--ca", Path.Combine(_dir, "ca.pem"), "--timeout", "45", .. arguments])
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("python did not start");
        var stdout = new MemoryStream();
        var stdoutTask = process.StandardOutput.BaseStream.CopyToAsync(stdout);
        var stderrTask = process.StandardError.ReadToEndAsync();
        try
        {
            if (stdin is not null)
            {
                await process.StandardInput.BaseStream.WriteAsync(stdin).AsTask().WaitAsync(Deadline);
            }

            process.StandardInput.Close();
            await process.WaitForExitAsync().WaitAsync(Deadline);
            await Task.WhenAll(stdoutTask, stderrTask).WaitAsync(Deadline);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"hbone_h2_client.py did not finish within {Deadline}; stderr so far: {(stderrTask.IsCompleted ? stderrTask.Result : "(pending)")}");
        }

        return new ClientResult(process.ExitCode, stdout.ToArray(), await stderrTask);
    }

    private static string? ProbeH2()
    {
        if (!File.Exists(Python))
        {
            return $"{Python} is missing: install python3 and python3-h2 (apt-get install -y python3-h2).";
        }

        using var process = Process.Start(new ProcessStartInfo(Python, ["-c", "import h2, sys; sys.stdout.write(h2.__version__)"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
        {
            process.Kill(entireProcessTree: true);
            return $"{Python} -c 'import h2' did not finish in 30 s.";
        }

        return process.ExitCode == 0
            ? null
            : $"python3-h2 is not installed for {Python}: run 'apt-get install -y python3-h2' (CI installs it). {process.StandardError.ReadToEnd()}";
    }

    private sealed record ClientResult(int ExitCode, byte[] Stdout, string Stderr)
    {
        public override string ToString() => $"exit={ExitCode} stdout={Stdout.Length} bytes stderr={Stderr}";
    }
}
