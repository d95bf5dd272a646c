using Hbone.Http2;
using System.Buffers.Binary;
using System.Net.Security;
using System.Security.Authentication;
using System.Text;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Protocol;

/// <summary>
/// HTTP/2 framing and header rules at the HBONE server (test-catalogue H2-14, H2-17, H2-18, H2-20), in the
/// style of Kestrel's Http2ConnectionTests: raw frames in, exact GOAWAY / RST_STREAM codes out.
/// </summary>
public sealed class Http2FrameTests
{
    private const int RefusedStream = 0x7;
    private const int FrameSizeError = 0x6;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);

    [Fact]
    [Trait("case", "H2-14")]
    public async Task H2_14_server_advertises_ztunnel_settings_and_a_16_MiB_connection_window()
    {
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectAsync();
        using var cts = new CancellationTokenSource(Deadline);

        Dictionary<ushort, int>? settings = null;
        int? connectionWindowIncrement = null;
        while (settings is null || connectionWindowIncrement is null)
        {
            var frame = await connection.ReadFrameAsync(cts.Token).WaitAsync(cts.Token);
            Assert.NotNull(frame);
            if (frame.Type == FrameType.Settings && !frame.HasFlag(FrameFlags.Ack))
            {
                Assert.Equal(0, frame.Payload.Length % 6);
                settings = [];
                for (var i = 0; i < frame.Payload.Length; i += 6)
                {
                    settings[BinaryPrimitives.ReadUInt16BigEndian(frame.Payload.AsSpan(i))] = BinaryPrimitives.ReadInt32BigEndian(frame.Payload.AsSpan(i + 2));
                }
            }
            else if (frame.Type == FrameType.WindowUpdate && frame.StreamId == 0)
            {
                connectionWindowIncrement = BinaryPrimitives.ReadInt32BigEndian(frame.Payload) & 0x7fffffff;
            }
        }

        Assert.Equal(200, settings[SettingId.MaxConcurrentStreams]);
        Assert.Equal(4 * 1024 * 1024, settings[SettingId.InitialWindowSize]);
        Assert.Equal(1024 * 1024, settings[SettingId.MaxFrameSize]);
        Assert.Equal(64 * 1024, settings[SettingId.MaxHeaderListSize]);
        Assert.Equal(16 * 1024 * 1024, 65535 + connectionWindowIncrement.Value);
    }

    [Fact]
    [Trait("case", "H2-14")]
    public async Task H2_14_the_201st_concurrent_connect_is_refused_and_never_dialled()
    {
        const int Limit = 200;
        using var upstream = new TcpUpstream(); // accepts (backlog) but never answers
        var accepted = new List<System.Net.Sockets.Socket>();
        await using var server = await HboneTestServer.StartAsync();
        try
        {
            await using var connection = await server.ConnectAsync();
            for (var i = 0; i <= Limit; i++)
            {
                await connection.WriteHeadersAsync(1 + 2 * i, [(":method", "CONNECT"), (":authority", upstream.Authority)], endStream: false);
            }

            var answers = new Dictionary<int, ServerAnswer>();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            while (answers.Count <= Limit)
            {
                var frame = await connection.ReadUntilAsync(
                    f => f.Type == FrameType.GoAway || (f.StreamId != 0 && f.Type is FrameType.Headers or FrameType.RstStream),
                    cts.Token).WaitAsync(cts.Token);
                Assert.NotNull(frame);
                Assert.NotEqual(FrameType.GoAway, frame.Type);
                answers[frame.StreamId] = frame.Type == FrameType.RstStream
                    ? ServerAnswer.Reset(frame.ErrorCode)
                    : ServerAnswer.Status(int.Parse(connection.DecodeHeaders(frame.Payload).Find(h => h.Name == ":status").Value, System.Globalization.CultureInfo.InvariantCulture));
            }

            var refused = Assert.Single(answers, a => a.Value.Kind == AnswerKind.Reset);
            Assert.Equal(1 + 2 * Limit, refused.Key);
            Assert.Equal(ServerAnswer.Reset(RefusedStream), refused.Value);
            Assert.Equal(Limit, answers.Count(a => a.Value == ServerAnswer.Status(200)));

            for (var i = 0; i < Limit; i++)
            {
                accepted.Add(await upstream.AcceptAsync(Deadline));
            }

            Assert.Equal(Limit, upstream.AcceptPending());
        }
        finally
        {
            foreach (var socket in accepted)
            {
                socket.Dispose();
            }
        }
    }

    [Fact]
    [Trait("case", "H2-17")]
    public async Task H2_17_data_larger_than_max_frame_size_is_goaway_frame_size_error()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectAsync();
        await connection.WriteHeadersAsync(1, [(":method", "CONNECT"), (":authority", upstream.Authority)], endStream: false);
        Assert.Equal(ServerAnswer.Status(200), await ServerAnswer.ReadAsync(connection, 1));
        using var upstreamSocket = await upstream.AcceptAsync(Deadline);

        // The server may close before it read all of it: the write's own failure is not the point.
        var write = connection.WriteFrameAsync(FrameType.Data, 0, 1, new byte[1024 * 1024 + 1]);
        var goAway = await ServerAnswer.ReadGoAwayThenCloseAsync(connection);
        await IgnoreFailureAsync(write);

        Assert.NotNull(goAway);
        Assert.Equal(FrameSizeError, goAway.ErrorCode);
    }

    [Theory]
    [Trait("case", "H2-17")]
    [InlineData(FrameType.Settings, 7)]
    [InlineData(FrameType.Settings, 5)]
    [InlineData(FrameType.Ping, 7)]
    [InlineData(FrameType.Ping, 9)]
    public async Task H2_17_settings_or_ping_with_a_bad_length_is_goaway_frame_size_error(byte type, int length)
    {
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectAsync();

        await connection.WriteFrameAsync(type, 0, 0, new byte[length]);

        var goAway = await ServerAnswer.ReadGoAwayThenCloseAsync(connection);
        Assert.NotNull(goAway);
        Assert.Equal(FrameSizeError, goAway.ErrorCode);
    }

    [Fact]
    [Trait("case", "H2-18")]
    public async Task H2_18_bad_preface_closes_the_connection_without_upstream()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await RawHttp2Connection.OpenAsync(server.EndPoint, TestPki.Shared.Client, sendPreface: false);

        await connection.Stream.WriteAsync("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"u8.ToArray());
        await connection.Stream.FlushAsync();

        // The server may close as soon as it read the bad preface: then this CONNECT cannot even be written,
        // and a reset may discard the GOAWAY already on its way; the closed connection is the outcome then.
        var written = true;
        try
        {
            await connection.WriteHeadersAsync(1, [(":method", "CONNECT"), (":authority", upstream.Authority)], endStream: false).WaitAsync(Deadline);
        }
        catch (IOException)
        {
            written = false;
        }

        var bytes = await ReadRawUntilCloseAsync(connection.Stream);
        if (written)
        {
            AssertGoAway(bytes, (int)Http2ErrorCode.ProtocolError);
        }

        Assert.Equal(0, upstream.AcceptPending());
        Assert.Null(server.TryNextLog());
    }

    [Fact]
    [Trait("case", "H2-18")]
    public async Task H2_18_http11_request_after_tls_closes_the_connection_without_upstream()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await RawHttp2Connection.OpenAsync(server.EndPoint, TestPki.Shared.Client, sendPreface: false);

        await connection.Stream.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT {upstream.Authority} HTTP/1.1\r\nHost: {upstream.Authority}\r\n\r\n"));
        await connection.Stream.FlushAsync();

        var bytes = await ReadRawUntilCloseAsync(connection.Stream);
        AssertGoAway(bytes, (int)Http2ErrorCode.ProtocolError);
        Assert.Equal(0, upstream.AcceptPending());
        Assert.Null(server.TryNextLog());
    }

    [Fact]
    [Trait("case", "H2-18")]
    public async Task H2_18_alpn_http11_only_fails_the_tls_handshake()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();

        var error = await Assert.ThrowsAsync<AuthenticationException>(() =>
            RawHttp2Connection.OpenAsync(server.EndPoint, TestPki.Shared.Client, sendPreface: false, alpn: [SslApplicationProtocol.Http11]).WaitAsync(Deadline));

        Assert.NotNull(error);
        Assert.Equal(0, upstream.AcceptPending());
        Assert.Null(server.TryNextLog());
    }

    [Fact]
    [Trait("case", "H2-18")]
    public async Task H2_18_no_alpn_closes_the_connection_without_upstream()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await RawHttp2Connection.OpenAsync(server.EndPoint, TestPki.Shared.Client, sendPreface: false, alpn: []);
        Assert.Equal(default, connection.Stream.NegotiatedApplicationProtocol);

        // Kestrel closes an HTTP/2-only TLS connection without h2 negotiated at once: these writes may fail.
        await IgnoreFailureAsync(connection.SendPrefaceAsync());
        await IgnoreFailureAsync(connection.WriteHeadersAsync(1, [(":method", "CONNECT"), (":authority", upstream.Authority)], endStream: false));

        var bytes = await ReadRawUntilCloseAsync(connection.Stream);
        Assert.Empty(bytes);
        Assert.Equal(0, upstream.AcceptPending());
        Assert.Null(server.TryNextLog());
    }

    public static TheoryData<string> MalformedHeaderCases() =>
    [
        "uppercase name", "connection header", "te gzip", "pseudo after regular", "duplicate :method",
        "unknown pseudo", ":status in request", "CR in value", "LF in value", "NUL in value",
    ];

    internal static List<(string, string)> MalformedHeaders(string @case, string authority) => @case switch
    {
        "uppercase name" => [(":method", "CONNECT"), (":authority", authority), ("X-Upper", "1")],
        "connection header" => [(":method", "CONNECT"), (":authority", authority), ("connection", "keep-alive")],
        "te gzip" => [(":method", "CONNECT"), (":authority", authority), ("te", "gzip")],
        "pseudo after regular" => [(":method", "CONNECT"), ("x-a", "1"), (":authority", authority)],
        "duplicate :method" => [(":method", "CONNECT"), (":method", "CONNECT"), (":authority", authority)],
        "unknown pseudo" => [(":method", "CONNECT"), (":authority", authority), (":foo", "bar")],
        ":status in request" => [(":method", "CONNECT"), (":authority", authority), (":status", "200")],
        "CR in value" => [(":method", "CONNECT"), (":authority", authority), ("x-a", "a\rb")],
        "LF in value" => [(":method", "CONNECT"), (":authority", authority), ("x-a", "a\nb")],
        "NUL in value" => [(":method", "CONNECT"), (":authority", authority), ("x-a", "a\0b")],
        _ => throw new ArgumentOutOfRangeException(nameof(@case), @case, null),
    };

    [Theory]
    [Trait("case", "H2-20")]
    [MemberData(nameof(MalformedHeaderCases))]
    public async Task H2_20_malformed_request_headers_are_protocol_error_and_never_forwarded(string @case)
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectAsync();

        await connection.WriteHeadersAsync(1, MalformedHeaders(@case, upstream.Authority), endStream: false);

        // RFC 9113 §8.1.1: a malformed request is a stream error; the connection lives on (docs/http2-server.md).
        var answer = await ServerAnswer.ReadAsync(connection, 1);
        Assert.Equal(ServerAnswer.Reset((int)Http2ErrorCode.ProtocolError), answer);
        Assert.Equal(0, upstream.AcceptPending());
        Assert.Null(server.TryNextLog());
    }

    private static void AssertGoAway(byte[] bytes, int errorCode)
    {
        var frames = ParseFrames(bytes);
        var goAway = frames.Find(f => f.Type == FrameType.GoAway);
        Assert.True(goAway is not null, $"no GOAWAY in {bytes.Length} bytes: {Encoding.ASCII.GetString(bytes[..Math.Min(bytes.Length, 200)])} / {string.Join(", ", frames)}");
        Assert.Equal(errorCode, goAway.ErrorCode);
    }

    internal static List<Http2Frame> ParseFrames(byte[] bytes)
    {
        var frames = new List<Http2Frame>();
        var offset = 0;
        while (offset + 9 <= bytes.Length)
        {
            var length = (bytes[offset] << 16) | (bytes[offset + 1] << 8) | bytes[offset + 2];
            if (offset + 9 + length > bytes.Length)
            {
                break;
            }

            frames.Add(new Http2Frame(bytes[offset + 3], bytes[offset + 4], BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(offset + 5)) & 0x7fffffff, bytes[(offset + 9)..(offset + 9 + length)]));
            offset += 9 + length;
        }

        return frames;
    }

    /// <summary>Everything the server sends until it closes the connection (EOF or reset), within the deadline.</summary>
    internal static async Task<byte[]> ReadRawUntilCloseAsync(Stream stream)
    {
        using var cts = new CancellationTokenSource(Deadline);
        var output = new MemoryStream();
        var buffer = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, cts.Token).AsTask().WaitAsync(cts.Token)) > 0)
            {
                output.Write(buffer, 0, read);
            }
        }
        catch (IOException)
        {
            // Reset after the last bytes: closed as well.
        }

        return output.ToArray();
    }

    private static async Task IgnoreFailureAsync(Task task)
    {
        try
        {
            await task.WaitAsync(Deadline);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or AuthenticationException)
        {
        }
    }
}
