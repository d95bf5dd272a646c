// Contract row (docs/http2-server.md): more than 1,000 SETTINGS, PING, PRIORITY, empty DATA, frames on closed streams or unsolicited WINDOW_UPDATEs within 10 s → GOAWAY ENHANCE_YOUR_CALM (H2-08, H2-09, H2-12).
using Hbone.Http2;
using Hbone.Kestrel.Tests.Defences.Infrastructure;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Defences;

[Collection(DefencesCollection.Name)]
public sealed class ControlFrameFloodTests
{
    private const int FloodSize = 10_000;
    private const int ControlFrameLimit = 1_000;
    private static readonly TimeSpan Quick = TimeSpan.FromSeconds(5);

    [Fact]
    [Trait("case", "H2-08")]
    public async Task H2_08_ten_thousand_SETTINGS_are_GOAWAY_ENHANCE_YOUR_CALM_after_at_most_a_thousand_acks()
    {
        await using var server = await DefenceServer.StartAsync();
        await using var client = await server.ConnectAsync();

        var sent = await Flood.SendAsync(client, Frames.Settings(), FloodSize, TimeSpan.FromSeconds(10));

        await client.AssertConnectionErrorAsync(Http2ErrorCode.EnhanceYourCalm, Quick);
        // +1: the SETTINGS of our preface is acknowledged too.
        Assert.True(client.SettingsAcks <= ControlFrameLimit + 1, $"{client.SettingsAcks} SETTINGS ACKs for {sent} SETTINGS sent");
    }

    [Fact]
    [Trait("case", "H2-09")]
    public async Task H2_09_ten_thousand_PINGs_are_GOAWAY_ENHANCE_YOUR_CALM_after_at_most_a_thousand_acks()
    {
        await using var server = await DefenceServer.StartAsync();
        await using var client = await server.ConnectAsync();

        var sent = await Flood.SendAsync(client, Frames.Ping(0x0102030405060708), FloodSize, TimeSpan.FromSeconds(10));

        await client.AssertConnectionErrorAsync(Http2ErrorCode.EnhanceYourCalm, Quick);
        Assert.True(client.PingAcks <= ControlFrameLimit, $"{client.PingAcks} PING ACKs for {sent} PINGs sent");
    }

    public static TheoryData<string> StreamFloods() =>
    [
        "WINDOW_UPDATE on a closed stream", "WINDOW_UPDATE on the connection without server DATA", "PRIORITY", "empty DATA without END_STREAM",
    ];

    [Theory]
    [Trait("case", "H2-08")]
    [MemberData(nameof(StreamFloods))]
    public async Task H2_08_ten_thousand_control_frames_are_GOAWAY_ENHANCE_YOUR_CALM(string flood)
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var server = await DefenceServer.StartAsync();
        await using var client = await server.ConnectAsync();
        await client.SendAsync(Frames.Connect(1, upstream.Authority));
        Assert.Equal(StreamAnswer.Status(200), await client.AnswerAsync(1, Quick));

        byte[] frame;
        switch (flood)
        {
            case "WINDOW_UPDATE on a closed stream":
                await client.SendAsync(Frames.RstStream(1, Http2ErrorCode.Cancel));
                frame = Frames.WindowUpdate(1, 1);
                break;
            case "WINDOW_UPDATE on the connection without server DATA":
                frame = Frames.WindowUpdate(0, 1);
                break;
            case "PRIORITY":
                frame = Frames.Priority(1);
                break;
            case "empty DATA without END_STREAM":
                frame = Frames.Data(1, ReadOnlySpan<byte>.Empty);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(flood), flood, null);
        }

        var sent = await Flood.SendAsync(client, frame, FloodSize, TimeSpan.FromSeconds(10));

        await client.AssertConnectionErrorAsync(Http2ErrorCode.EnhanceYourCalm, Quick, lastStreamId: 1);
        Assert.True(sent <= FloodSize, $"{sent} frames sent");
    }
}
