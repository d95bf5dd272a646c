using Hbone.Http2;
using System.Net.Sockets;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Protocol;

/// <summary>
/// The server's checks of the CONNECT request itself (hbone-reference.md §1, "Server order of checks and answers"),
/// driven with raw frames so the client can send what a conforming client never would.
/// </summary>
public sealed class ConnectRequestTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);

    [Fact]
    [Trait("case", "CON-01")]
    public async Task CON_01_connect_without_authority_is_answered_400_without_upstream_dial()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectAsync();

        await connection.WriteHeadersAsync(1, [(":method", "CONNECT")], endStream: false);

        Assert.Equal(ServerAnswer.Status(400), await ServerAnswer.ReadAsync(connection, 1));
        var log = await server.NextLogAsync(Deadline);
        Assert.Equal(400, log.StatusCode);
        Assert.Equal(TunnelOutcome.Refused, log.Outcome);
        Assert.Equal("missing :authority", log.Error);
        Assert.Equal(0, upstream.AcceptPending());
    }

    [Theory]
    [Trait("case", "CON-02")]
    [InlineData(":scheme", "https")]
    [InlineData(":path", "/")]
    public async Task CON_02_connect_with_scheme_or_path_is_reset_with_protocol_error(string name, string value)
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectAsync();

        await connection.WriteHeadersAsync(1, [(":method", "CONNECT"), (":authority", upstream.Authority), (name, value)], endStream: false);

        // Rejected before the application runs: a stream error, the connection stays usable.
        Assert.Equal(ServerAnswer.Reset((int)Http2ErrorCode.ProtocolError), await ServerAnswer.ReadAsync(connection, 1));
        Assert.Equal(0, upstream.AcceptPending());
        Assert.Null(server.TryNextLog());
        await AssertConnectionStillServesAsync(connection, 3, upstream);
    }

    [Theory]
    [Trait("case", "CON-03")]
    [InlineData("GET", false)]
    [InlineData("POST", true)]
    public async Task CON_03_get_or_post_to_the_hbone_port_is_answered_400(string method, bool withBody)
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectAsync();

        await connection.WriteHeadersAsync(
            1,
            [(":method", method), (":scheme", "https"), (":authority", upstream.Authority), (":path", "/")],
            endStream: !withBody);
        if (withBody)
        {
            await connection.WriteFrameAsync(FrameType.Data, FrameFlags.EndStream, 1, "hello"u8.ToArray());
        }

        Assert.Equal(ServerAnswer.Status(400), await ServerAnswer.ReadAsync(connection, 1));
        var log = await server.NextLogAsync(Deadline);
        Assert.Equal(400, log.StatusCode);
        Assert.Equal("method is not CONNECT", log.Error);
        Assert.Equal(0, upstream.AcceptPending());
    }

    [Theory]
    [Trait("case", "CON-04")]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.1:0")]
    [InlineData("127.0.0.1:65536")]
    [InlineData("127.0.0.1:99999999999")]
    [InlineData("300-char-host")]
    public async Task CON_04_invalid_authority_is_answered_400_without_upstream_dial(string authority)
    {
        using var upstream = new TcpUpstream();
        if (authority == "300-char-host")
        {
            authority = new string('a', 300) + ":" + upstream.EndPoint.Port;
        }

        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectAsync();

        await connection.WriteHeadersAsync(1, [(":method", "CONNECT"), (":authority", authority)], endStream: false);

        Assert.Equal(ServerAnswer.Status(400), await ServerAnswer.ReadAsync(connection, 1));
        var log = await server.NextLogAsync(Deadline);
        Assert.Equal(400, log.StatusCode);
        Assert.StartsWith("invalid :authority", log.Error);
        Assert.Equal(authority, log.Authority);
        Assert.Equal(0, upstream.AcceptPending());
    }

    /// <summary>Authorities with userinfo or a bracketless IPv6 address: 400 like any other bad authority (contract).</summary>
    [Theory]
    [Trait("case", "CON-04")]
    [InlineData("user@127.0.0.1:{port}")]
    [InlineData("fd00::1:{port}")]
    [InlineData("::1:{port}")]
    public async Task CON_04_authority_with_userinfo_or_bracketless_ipv6_is_answered_400(string template)
    {
        using var upstream = new TcpUpstream();
        var authority = template.Replace("{port}", upstream.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectAsync();

        await connection.WriteHeadersAsync(1, [(":method", "CONNECT"), (":authority", authority)], endStream: false);

        Assert.Equal(ServerAnswer.Status(400), await ServerAnswer.ReadAsync(connection, 1));
        var log = await server.NextLogAsync(Deadline);
        Assert.Equal(400, log.StatusCode);
        Assert.StartsWith("invalid :authority", log.Error);
        Assert.Equal(0, upstream.AcceptPending());
    }

    [Fact]
    [Trait("case", "CON-04")]
    public async Task CON_04_unknown_hostname_is_answered_503()
    {
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectAsync();

        await connection.WriteHeadersAsync(1, [(":method", "CONNECT"), (":authority", "no-such-host.invalid:80")], endStream: false);

        Assert.Equal(ServerAnswer.Status(503), await ServerAnswer.ReadAsync(connection, 1, TimeSpan.FromSeconds(30)));
        var log = await server.NextLogAsync(Deadline);
        Assert.Equal(503, log.StatusCode);
        Assert.Equal(TunnelOutcome.Refused, log.Outcome);
        Assert.Equal("cannot resolve no-such-host.invalid", log.Error);
    }

    /// <summary>
    /// RFC 9113 §8.5: only DATA and stream-management frames may follow a CONNECT's 200: trailers reset the stream
    /// (PROTOCOL_ERROR) and the upstream (TCP RST).
    /// </summary>
    [Fact]
    [Trait("case", "CON-12")]
    public async Task CON_12_trailers_with_end_stream_on_an_established_tunnel_reset_the_stream_and_the_upstream()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectAsync();
        await connection.WriteHeadersAsync(1, [(":method", "CONNECT"), (":authority", upstream.Authority)], endStream: false);
        Assert.Equal(ServerAnswer.Status(200), await ServerAnswer.ReadAsync(connection, 1));
        using var upstreamSocket = await upstream.AcceptAsync(Deadline);

        await connection.WriteHeadersAsync(1, [("x-trailer", "1")], endStream: true);

        Assert.Equal(ServerAnswer.Reset((int)Http2ErrorCode.ProtocolError), await ServerAnswer.ReadAsync(connection, 1));
        await AssertUpstreamResetAsync(upstreamSocket);
        var log = await server.NextLogAsync(Deadline);
        Assert.Equal(200, log.StatusCode);
        Assert.Equal(TunnelOutcome.PeerReset, log.Outcome);
    }

    /// <summary>Trailers without END_STREAM: a stream error too (RST_STREAM PROTOCOL_ERROR), the upstream reset.</summary>
    [Fact]
    [Trait("case", "CON-12")]
    public async Task CON_12_headers_without_end_stream_on_an_established_tunnel_resets_the_stream_and_the_upstream()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectAsync();
        await connection.WriteHeadersAsync(1, [(":method", "CONNECT"), (":authority", upstream.Authority)], endStream: false);
        Assert.Equal(ServerAnswer.Status(200), await ServerAnswer.ReadAsync(connection, 1));
        using var upstreamSocket = await upstream.AcceptAsync(Deadline);

        await connection.WriteHeadersAsync(1, [("x-trailer", "1")], endStream: false);

        Assert.Equal(ServerAnswer.Reset((int)Http2ErrorCode.ProtocolError), await ServerAnswer.ReadAsync(connection, 1));
        await AssertUpstreamResetAsync(upstreamSocket);
        var log = await server.NextLogAsync(Deadline);
        Assert.Equal(200, log.StatusCode);
        Assert.Equal(TunnelOutcome.PeerReset, log.Outcome);
    }

    /// <summary>The tunnel's upstream socket sees a TCP RST (linger 0), not a clean FIN.</summary>
    private static async Task AssertUpstreamResetAsync(Socket socket)
    {
        var error = await Assert.ThrowsAsync<SocketException>(() => socket.ReceiveAsync(new byte[16].AsMemory(), SocketFlags.None).AsTask().WaitAsync(Deadline));
        Assert.Equal(SocketError.ConnectionReset, error.SocketErrorCode);
    }

    private static async Task AssertConnectionStillServesAsync(RawHttp2Connection connection, int streamId, TcpUpstream upstream)
    {
        await connection.WriteHeadersAsync(streamId, [(":method", "CONNECT"), (":authority", upstream.Authority)], endStream: false);
        Assert.Equal(ServerAnswer.Status(200), await ServerAnswer.ReadAsync(connection, streamId));
        using var accepted = await upstream.AcceptAsync(Deadline);
    }
}
