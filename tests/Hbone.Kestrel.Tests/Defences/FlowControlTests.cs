// Contract rows (docs/http2-server.md): a window pushed above 2^31−1 → RST_STREAM / GOAWAY FLOW_CONTROL_ERROR (H2-02); WINDOW_UPDATE increment 0 → RST_STREAM / GOAWAY PROTOCOL_ERROR (H2-03).
using System.Diagnostics;
using Hbone.Http2;
using Hbone.Kestrel.Tests.Defences.Infrastructure;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Defences;

[Collection(DefencesCollection.Name)]
public sealed class FlowControlTests
{
    private static readonly TimeSpan Quick = TimeSpan.FromSeconds(5);

    [Fact]
    [Trait("case", "H2-02")]
    public async Task H2_02_a_stream_window_pushed_past_2_31_minus_1_is_RST_STREAM_FLOW_CONTROL_ERROR_and_the_upstream_closes_within_1_s()
    {
        using var upstream = new TcpUpstream();
        await using var server = await DefenceServer.StartAsync();
        await using var client = await server.ConnectAsync();
        await client.SendAsync(Frames.Connect(1, upstream.Authority));
        Assert.Equal(StreamAnswer.Status(200), await client.AnswerAsync(1, Quick));
        using var accepted = await upstream.AcceptAsync(Quick);

        await client.SendAsync(Frames.Concat([Frames.WindowUpdate(1, int.MaxValue), Frames.WindowUpdate(1, int.MaxValue)]));

        var answer = await client.AnswerResetAsync(1, Quick);
        Assert.Equal(StreamAnswer.Reset(Http2ErrorCode.FlowControlError), answer);
        var clock = Stopwatch.StartNew();
        Assert.True(await TcpUpstream.ReadToEndOrResetAsync(accepted, TimeSpan.FromSeconds(1)), "the upstream must be closed within 1 s of the reset");
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(1.2));

        // A stream error: the connection still serves.
        await client.SendAsync(Frames.Connect(3, upstream.Authority));
        Assert.Equal(StreamAnswer.Status(200), await client.AnswerAsync(3, Quick));
    }

    [Fact]
    [Trait("case", "H2-02")]
    public async Task H2_02_the_connection_window_pushed_past_2_31_minus_1_is_GOAWAY_FLOW_CONTROL_ERROR()
    {
        await using var server = await DefenceServer.StartAsync();
        await using var client = await server.ConnectAsync();

        await client.TrySendAsync(Frames.Concat([Frames.WindowUpdate(0, int.MaxValue), Frames.WindowUpdate(0, int.MaxValue)]));

        await client.AssertConnectionErrorAsync(Http2ErrorCode.FlowControlError, Quick, lastStreamId: 0);
    }

    [Fact]
    [Trait("case", "H2-03")]
    public async Task H2_03_window_update_increment_0_on_a_stream_is_RST_STREAM_PROTOCOL_ERROR_and_the_connection_lives()
    {
        using var upstream = new TcpUpstream();
        await using var server = await DefenceServer.StartAsync();
        await using var client = await server.ConnectAsync();
        await client.SendAsync(Frames.Connect(1, upstream.Authority));
        Assert.Equal(StreamAnswer.Status(200), await client.AnswerAsync(1, Quick));
        using var accepted = await upstream.AcceptAsync(Quick);

        await client.SendAsync(Frames.WindowUpdate(1, 0));

        Assert.Equal(StreamAnswer.Reset(Http2ErrorCode.ProtocolError), await client.AnswerResetAsync(1, Quick));
        await client.SendAsync(Frames.Connect(3, upstream.Authority));
        Assert.Equal(StreamAnswer.Status(200), await client.AnswerAsync(3, Quick));
    }

    [Fact]
    [Trait("case", "H2-03")]
    public async Task H2_03_window_update_increment_0_on_stream_0_is_GOAWAY_PROTOCOL_ERROR()
    {
        await using var server = await DefenceServer.StartAsync();
        await using var client = await server.ConnectAsync();

        await client.TrySendAsync(Frames.WindowUpdate(0, 0));

        await client.AssertConnectionErrorAsync(Http2ErrorCode.ProtocolError, Quick, lastStreamId: 0);
    }
}
