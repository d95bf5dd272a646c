// Contract row (docs/http2-server.md): a decoded header list above MaxRequestHeadersTotalSize → HEADERS :status 431 + END_STREAM, the table kept in sync, no field kept; the 9th such answer → GOAWAY ENHANCE_YOUR_CALM; an attacking connection holds a few MiB at most (H2-04, H2-06).
using Hbone.Http2;
using Hbone.Kestrel.Tests.Defences.Infrastructure;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Defences;

[Collection(DefencesCollection.Name)]
public sealed class HeaderListLimitTests
{
    private static readonly TimeSpan Quick = TimeSpan.FromSeconds(5);

    /// <summary>A CONNECT that enters a 4,000-octet value into the dynamic table (entry size 4,038 ≤ 4,096).</summary>
    private static byte[] BombSeed(int streamId, string authority) =>
        Frames.Headers(streamId, HpackBlock.Connect(authority).LiteralWithIndexing("x-bomb", new string('b', 4000)).ToArray(), endStream: false);

    /// <summary>A CONNECT plus 10,000 one-octet references to that entry: ~10 KB on the wire, ~40 MB decoded.</summary>
    private static byte[] Bomb(int streamId, string authority) =>
        Frames.Headers(streamId, HpackBlock.Connect(authority).Indexed(HpackBlock.FirstDynamicIndex, 10_000).ToArray(), endStream: false);

    [Fact]
    [Trait("case", "H2-06")]
    public async Task H2_06_a_header_list_above_MaxRequestHeadersTotalSize_is_answered_431_with_END_STREAM_and_the_connection_serves_the_next_connect()
    {
        using var upstream = new TcpUpstream();
        await using var server = await DefenceServer.StartAsync();
        await using var client = await server.ConnectAsync();

        await client.SendAsync(Frames.OversizedConnect(1, upstream.Authority));

        Assert.Equal(StreamAnswer.Status(431, endStream: true), await client.AnswerAsync(1, Quick));
        Assert.Equal(0, upstream.AcceptPending());
        await client.SendAsync(Frames.Connect(3, upstream.Authority));
        Assert.Equal(StreamAnswer.Status(200), await client.AnswerAsync(3, Quick));
    }

    [Fact]
    [Trait("case", "H2-06")]
    public async Task H2_06_the_ninth_oversized_header_list_on_one_connection_is_GOAWAY_ENHANCE_YOUR_CALM()
    {
        using var upstream = new TcpUpstream();
        await using var server = await DefenceServer.StartAsync();
        await using var client = await server.ConnectAsync();

        for (var i = 0; i < 8; i++)
        {
            var id = 1 + 2 * i;
            await client.SendAsync(Frames.OversizedConnect(id, upstream.Authority));
            Assert.Equal(StreamAnswer.Status(431, endStream: true), await client.AnswerAsync(id, Quick));
        }

        await client.TrySendAsync(Frames.OversizedConnect(17, upstream.Authority));

        await client.AssertConnectionErrorAsync(Http2ErrorCode.EnhanceYourCalm, Quick);
        Assert.Equal(0, upstream.AcceptPending());
    }

    [Fact]
    [Trait("case", "H2-06")]
    public async Task H2_06_an_hpack_bomb_is_answered_431_at_most_eight_times_then_GOAWAY_ENHANCE_YOUR_CALM()
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var server = await DefenceServer.StartAsync();
        await using var client = await server.ConnectAsync();

        // The seed is a valid CONNECT (4 KB header): served.
        await client.SendAsync(BombSeed(1, upstream.Authority));
        Assert.Equal(StreamAnswer.Status(200), await client.AnswerAsync(1, Quick));

        // 12 bombs back to back: 8 answers of 431 (a 9th at most, see the report), then GOAWAY; never a 200.
        var bombs = Enumerable.Range(1, 12).Select(i => 1 + 2 * i).ToArray();
        await client.TrySendAsync(Frames.Concat(bombs.Select(id => Bomb(id, upstream.Authority))));

        await client.AssertConnectionErrorAsync(Http2ErrorCode.EnhanceYourCalm, TimeSpan.FromSeconds(10));
        var answers = new List<StreamAnswer>();
        foreach (var id in bombs)
        {
            answers.Add(await client.AnswerAsync(id, TimeSpan.Zero));
        }

        var statuses = answers.Where(a => a.Kind == AnswerKind.Status).ToList();
        Assert.All(statuses, a => Assert.Equal(StreamAnswer.Status(431, endStream: true), a));
        Assert.InRange(statuses.Count, 8, 9);
        Assert.All(answers.Take(8), a => Assert.Equal(StreamAnswer.Status(431, endStream: true), a));
    }

    [Fact]
    [Trait("case", "H2-06")]
    public async Task H2_06_four_connections_sending_oversized_header_lists_for_3_s_grow_the_managed_heap_by_less_than_32_MiB()
    {
        const long Limit = 32L * 1024 * 1024;
        var attack = TimeSpan.FromSeconds(3);
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var server = await DefenceServer.StartAsync();

        // Everything the attackers send is built once, so the client side allocates little while it runs.
        var seed = BombSeed(1, upstream.Authority);
        var payloads = Enumerable.Range(1, 16).Select(i => i % 2 == 0 ? Bomb(1 + 2 * i, upstream.Authority) : Frames.OversizedConnect(1 + 2 * i, upstream.Authority)).ToArray();

        var before = GC.GetTotalMemory(forceFullCollection: true);
        var peak = before;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var connections = 0;
        async Task AttackAsync()
        {
            for (var round = 0; round < 50 && clock.Elapsed < attack; round++)
            {
                Interlocked.Increment(ref connections);
                await using var client = await server.ConnectAsync();
                if (!await client.TrySendAsync(seed))
                {
                    continue;
                }

                foreach (var payload in payloads)
                {
                    if (clock.Elapsed >= attack || client.Closed.Task.IsCompleted || !await client.TrySendAsync(payload))
                    {
                        break;
                    }
                }

                await client.ClosedWithinAsync(TimeSpan.FromSeconds(1));
            }
        }

        var attackers = Enumerable.Range(0, 4).Select(_ => Task.Run(AttackAsync)).ToArray();
        var all = Task.WhenAll(attackers);
        while (!all.IsCompleted && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.WhenAny(all, Task.Delay(500));
            peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: true));
        }

        Assert.True(all.IsCompleted, "the attackers did not finish within 10 s");
        await all;

        // The server tears the attacking connections down after they end: poll the heap back down, with a deadline.
        var after = GC.GetTotalMemory(forceFullCollection: true);
        for (var settle = System.Diagnostics.Stopwatch.StartNew(); after - before >= Limit && settle.Elapsed < TimeSpan.FromSeconds(5);)
        {
            await Task.Delay(100);
            after = GC.GetTotalMemory(forceFullCollection: true);
        }

        Assert.True(connections >= 4, $"only {connections} attacking connections ran");
        Assert.True(peak - before < Limit, $"managed heap grew {(peak - before) / (1024 * 1024.0):F1} MiB during the attack ({connections} connections)");
        Assert.True(after - before < Limit, $"managed heap grew {(after - before) / (1024 * 1024.0):F1} MiB after the attack");
    }
}
