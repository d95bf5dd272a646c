using System.Text.RegularExpressions;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Interop;

/// <summary>
/// The HBONE server against nghttp (nghttp2's command-line client, Debian <c>nghttp2-client</c>) over TLS 1.3 with the
/// test client SVID. nghttp cannot open a tunnel: every request it sends carries <c>:path</c> and <c>:scheme</c>, also
/// with <c>-H ':method: CONNECT'</c>, and such a CONNECT is malformed (RFC 9113 §8.5). So these tests use nghttp for
/// what it can do against an HBONE server: the documented answers to its malformed CONNECT and to plain GETs, over a
/// real mTLS HTTP/2 session with its own SETTINGS, windows and HPACK. nghttp exits 0 whatever happened, so the tests
/// read its <c>-v</c> frame trace. It does not verify the server's chain (it has no CA option; <c>-y</c>).
/// </summary>
public sealed class NghttpInteropTests : IDisposable
{
    private const string Nghttp = "/usr/bin/nghttp";
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private readonly ForeignPeer _peer = new();

    public void Dispose() => _peer.Dispose();

    /// <summary>
    /// docs/http2-server.md: CONNECT with <c>:scheme</c> or <c>:path</c> → RST_STREAM PROTOCOL_ERROR on that stream only,
    /// the connection lives. Three such streams on one session each get their own reset, no GOAWAY, no dial.
    /// </summary>
    [Fact]
    [Trait("case", "CON-02")]
    public async Task CON_02_nghttp_connect_always_carries_path_and_scheme_so_each_stream_gets_rst_protocol_error_and_the_session_lives()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();

        var result = await RunAsync(server, "-m", "3", "-H", ":method: CONNECT", "-H", $":authority: {upstream.Authority}");

        Assert.Contains("The negotiated protocol: h2", result.Stdout);
        Assert.Matches(@"(?s)send HEADERS frame.*:method: CONNECT\s+:path: /\s+:scheme: https\s+:authority: " + Regex.Escape(upstream.Authority), result.Stdout);
        var resets = Regex.Matches(result.Stdout, @"recv RST_STREAM frame <length=4, flags=0x00, stream_id=(\d+)>\s+\(error_code=(\w+)\(0x([0-9a-f]+)\)\)");
        Assert.True(resets.Count == 3, result.ToString());
        Assert.All(resets, reset => Assert.Equal("PROTOCOL_ERROR", reset.Groups[2].Value));
        Assert.Equal(["1", "3", "5"], resets.Select(reset => reset.Groups[1].Value).Order());
        Assert.DoesNotContain("recv GOAWAY", result.Stdout);
        Assert.DoesNotContain(":status:", result.Stdout);
        Assert.Equal(0, upstream.AcceptPending());
    }

    /// <summary>
    /// docs/http2-server.md: a method other than CONNECT → 400. nghttp opens 100 GET streams at once having advertised
    /// SETTINGS_INITIAL_WINDOW_SIZE 0 and SETTINGS_HEADER_TABLE_SIZE 0 (so the server's HPACK encoder must not use its
    /// dynamic table, RFC 7541 §4.2); every stream gets HEADERS :status 400 with END_STREAM, no reset, no GOAWAY.
    /// </summary>
    [Fact]
    [Trait("case", "CON-03")]
    public async Task CON_03_nghttp_100_concurrent_gets_with_zero_stream_window_and_zero_hpack_table_each_get_400()
    {
        await using var server = await HboneTestServer.StartAsync();

        var result = await RunAsync(server, "-n", "-m", "100", "-w", "0", "-W", "16", "-c", "0");

        Assert.Contains("The negotiated protocol: h2", result.Stdout);
        Assert.Matches(@"send SETTINGS frame <length=\d+, flags=0x00, stream_id=0>\s+\(niv=\d+\)(\s+\[[^\]]+\])*\s+\[SETTINGS_INITIAL_WINDOW_SIZE\(0x04\):0\]", result.Stdout);
        Assert.Matches(@"\[SETTINGS_HEADER_TABLE_SIZE\(0x01\):0\]", result.Stdout);
        var statuses = Regex.Matches(result.Stdout, @"recv \(stream_id=(\d+)\) :status: (\d+)");
        Assert.True(statuses.Count == 100, $"{statuses.Count} answers\n{result.Stderr}");
        Assert.All(statuses, status => Assert.Equal("400", status.Groups[2].Value));
        Assert.Equal(100, statuses.Select(status => status.Groups[1].Value).Distinct().Count());
        Assert.Equal(100, Regex.Matches(result.Stdout, @"recv HEADERS frame <length=\d+, flags=0x05, stream_id=\d+>").Count);
        Assert.DoesNotContain("recv RST_STREAM", result.Stdout);
        Assert.DoesNotContain("recv GOAWAY", result.Stdout);
        Assert.DoesNotContain("Some requests were not processed", result.Stderr);
    }

    /// <summary>Without a client certificate the TLS 1.3 handshake is rejected after nghttp thinks it connected: no answer.</summary>
    [Fact]
    [Trait("case", "ID-10")]
    public async Task ID_10_nghttp_without_a_client_certificate_gets_no_answer()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();

        var result = await RunAsync(server, withCertificate: false, "-H", ":method: CONNECT", "-H", $":authority: {upstream.Authority}");

        Assert.DoesNotContain(":status:", result.Stdout);
        Assert.DoesNotContain("recv RST_STREAM", result.Stdout);
        Assert.Contains("Some requests were not processed. total=1, processed=0", result.Stderr);
        Assert.Equal(0, upstream.AcceptPending());
        Assert.Null(server.TryNextLog());
    }

    private Task<PeerResult> RunAsync(HboneTestServer server, params string[] arguments) =>
        RunAsync(server, withCertificate: true, arguments);

    private async Task<PeerResult> RunAsync(HboneTestServer server, bool withCertificate, params string[] arguments)
    {
        ForeignPeer.Require(Nghttp, "nghttp2-client");
        string[] certificate = withCertificate ? ["--cert", _peer.ClientCertificate, "--key", _peer.ClientKey] : [];
        var result = await ForeignPeer.RunAsync(
            Nghttp, ["-v", "-y", "--no-dep", "-t", "30", .. certificate, .. arguments, $"https://{server.EndPoint}/"], Deadline);
        Assert.True(result.ExitCode == 0, result.ToString());
        return result;
    }
}
