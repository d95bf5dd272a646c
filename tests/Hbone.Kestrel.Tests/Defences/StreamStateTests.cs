// Contract rows (docs/http2-server.md): even / non-increasing stream ids and frames on idle streams or stream 0 → GOAWAY PROTOCOL_ERROR (H2-15); DATA after the peer's END_STREAM → RST_STREAM STREAM_CLOSED (H2-03).
using System.Net.Sockets;
using Hbone.Http2;
using Hbone.Kestrel.Tests.Defences.Infrastructure;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Defences;

[Collection(DefencesCollection.Name)]
public sealed class StreamStateTests
{
    private static readonly TimeSpan Quick = TimeSpan.FromSeconds(5);

    [Fact]
    [Trait("case", "H2-03")]
    public async Task H2_03_data_after_the_clients_END_STREAM_is_RST_STREAM_STREAM_CLOSED_and_the_connection_lives()
    {
        using var upstream = new TcpUpstream();
        await using var server = await DefenceServer.StartAsync();
        await using var client = await server.ConnectAsync();

        await client.SendAsync(Frames.Connect(1, upstream.Authority));
        Assert.Equal(StreamAnswer.Status(200), await client.AnswerAsync(1, Quick));
        using var accepted = await upstream.AcceptAsync(Quick);
        await client.SendAsync(Frames.Data(1, "last"u8, endStream: true));

        // The server has processed the END_STREAM once the upstream sees the half-close.
        var forwarded = await ReadUntilFinAsync(accepted, Quick);
        Assert.Equal("last", System.Text.Encoding.ASCII.GetString(forwarded));

        await client.SendAsync(Frames.Data(1, "late"u8));

        await Task.WhenAny(client.StreamOf(1).Reset.Task, client.FirstGoAway.Task, client.Closed.Task, Task.Delay(Quick));
        Assert.False(client.FirstGoAway.Task.IsCompleted, "a stream error, not a connection error, is the contract");
        Assert.True(client.StreamOf(1).Reset.Task.IsCompleted, "expected RST_STREAM on stream 1");
        Assert.Equal(Http2ErrorCode.StreamClosed, (Http2ErrorCode)await client.StreamOf(1).Reset.Task);

        await client.SendAsync(Frames.Connect(3, upstream.Authority));
        Assert.Equal(StreamAnswer.Status(200), await client.AnswerAsync(3, Quick));
    }

    public static TheoryData<string> IllegalStreamFrames() =>
    [
        "HEADERS on an even stream id", "DATA on an idle stream", "RST_STREAM on an idle stream",
        "WINDOW_UPDATE on an idle stream", "HEADERS on stream 0", "DATA on stream 0", "RST_STREAM on stream 0",
    ];

    [Theory]
    [Trait("case", "H2-15")]
    [MemberData(nameof(IllegalStreamFrames))]
    public async Task H2_15_a_frame_on_an_illegal_stream_id_is_GOAWAY_PROTOCOL_ERROR_with_last_stream_id_0(string @case)
    {
        using var upstream = new TcpUpstream();
        await using var server = await DefenceServer.StartAsync();
        await using var client = await server.ConnectAsync();

        await client.TrySendAsync(@case switch
        {
            "HEADERS on an even stream id" => Frames.Connect(2, upstream.Authority),
            "DATA on an idle stream" => Frames.Data(3, "x"u8),
            "RST_STREAM on an idle stream" => Frames.RstStream(3, Http2ErrorCode.Cancel),
            "WINDOW_UPDATE on an idle stream" => Frames.WindowUpdate(3, 1),
            "HEADERS on stream 0" => Frames.Connect(0, upstream.Authority),
            "DATA on stream 0" => Frames.Data(0, "x"u8),
            "RST_STREAM on stream 0" => Frames.RstStream(0, Http2ErrorCode.Cancel),
            _ => throw new ArgumentOutOfRangeException(nameof(@case), @case, null),
        });

        await client.AssertConnectionErrorAsync(Http2ErrorCode.ProtocolError, Quick, lastStreamId: 0);
        Assert.Equal(0, upstream.AcceptPending());
    }

    [Fact]
    [Trait("case", "H2-15")]
    public async Task H2_15_a_new_stream_id_below_the_last_one_is_GOAWAY_PROTOCOL_ERROR_naming_the_last_stream()
    {
        using var upstream = new TcpUpstream();
        await using var server = await DefenceServer.StartAsync();
        await using var client = await server.ConnectAsync();
        await client.SendAsync(Frames.Connect(5, upstream.Authority));
        Assert.Equal(StreamAnswer.Status(200), await client.AnswerAsync(5, Quick));
        using var accepted = await upstream.AcceptAsync(Quick);

        await client.TrySendAsync(Frames.Connect(3, upstream.Authority));

        await client.AssertConnectionErrorAsync(Http2ErrorCode.ProtocolError, Quick, lastStreamId: 5);
        Assert.Equal(1, upstream.AcceptPending());
    }

    internal static async Task<byte[]> ReadUntilFinAsync(Socket socket, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var output = new MemoryStream();
        var buffer = new byte[4096];
        try
        {
            int read;
            while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token)) > 0)
            {
                output.Write(buffer, 0, read);
            }
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"the upstream saw no FIN within {timeout.TotalSeconds} s (got {output.Length} bytes)");
        }

        return output.ToArray();
    }
}
