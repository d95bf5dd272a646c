// Contract row (docs/http2-server.md): PRIORITY length ≠ 5, RST_STREAM length ≠ 4, WINDOW_UPDATE length ≠ 4 → GOAWAY FRAME_SIZE_ERROR (H2-17; DATA, SETTINGS and PING sizes are in Protocol/Http2FrameTests).
using Hbone.Http2;
using Hbone.Kestrel.Tests.Defences.Infrastructure;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Defences;

[Collection(DefencesCollection.Name)]
public sealed class FrameSizeTests
{
    private static readonly TimeSpan Quick = TimeSpan.FromSeconds(5);

    [Theory]
    [Trait("case", "H2-17")]
    [InlineData(FrameType.Priority, 4, 1)]
    [InlineData(FrameType.Priority, 6, 1)]
    [InlineData(FrameType.RstStream, 3, 1)]
    [InlineData(FrameType.RstStream, 5, 1)]
    [InlineData(FrameType.WindowUpdate, 3, 1)]
    [InlineData(FrameType.WindowUpdate, 5, 1)]
    [InlineData(FrameType.WindowUpdate, 3, 0)]
    [InlineData(FrameType.WindowUpdate, 5, 0)]
    public async Task H2_17_a_fixed_size_frame_of_the_wrong_length_is_GOAWAY_FRAME_SIZE_ERROR(byte type, int length, int streamId)
    {
        using var upstream = new TcpUpstream();
        await using var server = await DefenceServer.StartAsync();
        await using var client = await server.ConnectAsync();
        await client.SendAsync(Frames.Connect(1, upstream.Authority));
        Assert.Equal(StreamAnswer.Status(200), await client.AnswerAsync(1, Quick));
        using var accepted = await upstream.AcceptAsync(Quick);

        var payload = new byte[length];
        payload[^1] = 1; // a non-zero increment / code / weight: only the length is wrong
        await client.TrySendAsync(Frames.Raw(type, 0, streamId, payload));

        await client.AssertConnectionErrorAsync(Http2ErrorCode.FrameSizeError, Quick, lastStreamId: 1);
    }
}
