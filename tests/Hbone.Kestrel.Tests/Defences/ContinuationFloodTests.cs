// Contract rows (docs/http2-server.md): more than 32 CONTINUATION frames or more than 2 × MaxRequestHeadersTotalSize compressed octets in one header block, or a block unfinished after RequestHeadersTimeout → GOAWAY ENHANCE_YOUR_CALM (H2-04, H2-05).
using Hbone.Http2;
using Hbone.Kestrel.Tests.Defences.Infrastructure;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Defences;

[Collection(DefencesCollection.Name)]
public sealed class ContinuationFloodTests
{
    private static readonly TimeSpan Quick = TimeSpan.FromSeconds(5);

    /// <summary>HEADERS with the CONNECT's pseudo-fields, then one small field per CONTINUATION, the last one with END_HEADERS.</summary>
    private static byte[] BlockWithContinuations(int streamId, string authority, int continuations)
    {
        var frames = new List<byte[]> { Frames.Headers(streamId, HpackBlock.Connect(authority).ToArray(), endStream: false, endHeaders: false) };
        for (var i = 0; i < continuations; i++)
        {
            frames.Add(Frames.Continuation(streamId, new HpackBlock().Literal($"x-c{i}", "v").ToArray(), endHeaders: i == continuations - 1));
        }

        return Frames.Concat(frames);
    }

    [Fact]
    [Trait("case", "H2-04")]
    public async Task H2_04_a_header_block_of_32_small_continuation_frames_is_still_served()
    {
        using var upstream = new TcpUpstream();
        await using var server = await DefenceServer.StartAsync();
        await using var client = await server.ConnectAsync();

        await client.SendAsync(BlockWithContinuations(1, upstream.Authority, 32));

        Assert.Equal(StreamAnswer.Status(200), await client.AnswerAsync(1, Quick));
    }

    [Fact]
    [Trait("case", "H2-04")]
    public async Task H2_04_a_header_block_of_33_small_continuation_frames_is_GOAWAY_ENHANCE_YOUR_CALM()
    {
        using var upstream = new TcpUpstream();
        // A long header timeout: only the frame cap may end this connection within the deadline.
        await using var server = await DefenceServer.StartAsync(o => o.RequestHeadersTimeout = TimeSpan.FromSeconds(30));
        await using var client = await server.ConnectAsync();

        await client.TrySendAsync(BlockWithContinuations(1, upstream.Authority, 33));

        await client.AssertConnectionErrorAsync(Http2ErrorCode.EnhanceYourCalm, Quick, lastStreamId: 0);
        Assert.Equal(0, upstream.AcceptPending());
    }

    [Fact]
    [Trait("case", "H2-04")]
    public async Task H2_04_a_header_block_above_twice_MaxRequestHeadersTotalSize_compressed_is_GOAWAY_ENHANCE_YOUR_CALM_before_it_ends()
    {
        using var upstream = new TcpUpstream();
        await using var server = await DefenceServer.StartAsync(o => o.RequestHeadersTimeout = TimeSpan.FromSeconds(30));
        await using var client = await server.ConnectAsync();

        // 2 × 64 KiB + 16 KiB of one never-ending literal in 9 frames (well under the 32-frame cap), no END_HEADERS.
        var block = HpackBlock.Connect(upstream.Authority).Literal("x-huge", new string('h', 1024 * 1024)).ToArray();
        var frames = new List<byte[]> { Frames.Headers(1, block.AsSpan(0, Frames.DefaultMaxFrameSize), endStream: false, endHeaders: false) };
        for (var i = 1; i < 9; i++)
        {
            frames.Add(Frames.Continuation(1, block.AsSpan(i * Frames.DefaultMaxFrameSize, Frames.DefaultMaxFrameSize), endHeaders: false));
        }

        await client.TrySendAsync(Frames.Concat(frames));

        await client.AssertConnectionErrorAsync(Http2ErrorCode.EnhanceYourCalm, Quick, lastStreamId: 0);
        Assert.Equal(0, upstream.AcceptPending());
    }

    [Fact]
    [Trait("case", "H2-05")]
    public async Task H2_05_endless_zero_length_continuation_frames_are_GOAWAY_ENHANCE_YOUR_CALM_well_before_the_header_timeout()
    {
        using var upstream = new TcpUpstream();
        await using var server = await DefenceServer.StartAsync(); // RequestHeadersTimeout: the default 5 s
        await using var client = await server.ConnectAsync();

        var start = client.Elapsed;
        await client.SendAsync(Frames.Headers(1, HpackBlock.Connect(upstream.Authority).ToArray(), endStream: false, endHeaders: false));
        var sent = await Flood.SendAsync(client, Frames.Continuation(1, ReadOnlySpan<byte>.Empty, endHeaders: false), count: 100_000, budget: TimeSpan.FromSeconds(10), batch: 1000);

        await client.AssertConnectionErrorAsync(Http2ErrorCode.EnhanceYourCalm, Quick, lastStreamId: 0);
        var after = client.GoAwayAt!.Value - start;
        Assert.True(after < TimeSpan.FromSeconds(2), $"GOAWAY came {after.TotalMilliseconds:F0} ms after the block began ({sent} CONTINUATION frames written); the 32-frame cap must end it long before the 5 s header timeout");
        Assert.Equal(0, upstream.AcceptPending());
    }

    [Fact]
    [Trait("case", "H2-05")]
    public async Task H2_05_a_header_block_left_unfinished_is_GOAWAY_ENHANCE_YOUR_CALM_at_RequestHeadersTimeout()
    {
        using var upstream = new TcpUpstream();
        await using var server = await DefenceServer.StartAsync(o => o.RequestHeadersTimeout = TimeSpan.FromSeconds(1));
        await using var client = await server.ConnectAsync();

        var start = client.Elapsed;
        await client.SendAsync(Frames.Concat(
        [
            Frames.Headers(1, HpackBlock.Connect(upstream.Authority).ToArray(), endStream: false, endHeaders: false),
            Frames.Continuation(1, new HpackBlock().Literal("x-a", "1").ToArray(), endHeaders: false),
        ]));

        await client.AssertConnectionErrorAsync(Http2ErrorCode.EnhanceYourCalm, TimeSpan.FromSeconds(3), lastStreamId: 0);
        var after = client.GoAwayAt!.Value - start;
        Assert.InRange(after, TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(3));
        Assert.Equal(0, upstream.AcceptPending());
    }
}
