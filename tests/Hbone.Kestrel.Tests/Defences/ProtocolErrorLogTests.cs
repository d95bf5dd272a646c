// Contract row (docs/http2-server.md, Memory and logs): each connection error is one Warning (event Http2ConnectionError) naming the peer, code and reason; at most 10 such lines per second server-wide, then a line saying how many were suppressed; nothing above Warning.
using Hbone.Kestrel.Tests.Defences.Infrastructure;
using Hbone.Kestrel.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace Hbone.Kestrel.Tests.Defences;

[Collection(DefencesCollection.Name)]
public sealed class ProtocolErrorLogTests
{
    private const string EventName = "Http2ConnectionError";
    private static readonly TimeSpan Quick = TimeSpan.FromSeconds(5);

    /// <summary>HEADERS on stream 2 (an even id): a connection error PROTOCOL_ERROR.</summary>
    private static readonly byte[] Attack = Frames.Connect(2, "127.0.0.1:9");

    [Fact]
    [Trait("case", "H2-15")]
    public async Task An_attacking_connection_produces_exactly_one_Warning_Http2ConnectionError_line_naming_the_peer_and_nothing_above_Warning()
    {
        await using var server = await DefenceServer.StartAsync();
        await using var client = await server.ConnectAsync();
        var peer = client.LocalEndPoint;

        await client.TrySendAsync(Attack);
        Assert.True(await client.ClosedWithinAsync(Quick), "the attacking connection was not closed");

        await server.Logs.WaitForAsync(lines => lines.Any(l => l.EventId.Name == EventName), TimeSpan.FromSeconds(2));

        // A second attacker's line marks the point by which a duplicate of the first would have been written.
        await using (var marker = await server.ConnectAsync())
        {
            await marker.TrySendAsync(Attack);
            Assert.True(await marker.ClosedWithinAsync(Quick), "the marker connection was not closed");
            await server.Logs.WaitForAsync(lines => lines.Count(l => l.EventId.Name == EventName) >= 2, TimeSpan.FromSeconds(2));
        }

        var line = Assert.Single(server.Logs.WithEvent(EventName), l => l.Message.Contains($":{peer.Port}", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Warning, line.Level);
        Assert.True(
            line.Message.Contains(peer.Address.ToString(), StringComparison.Ordinal) || line.Message.Contains("spiffe://cluster.local/ns/default/sa/client", StringComparison.Ordinal),
            $"the line does not name the peer: {line}");
        Assert.Contains("protocol", line.Message, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(server.Logs.Lines, l => l.Level > LogLevel.Warning);
    }

    [Fact]
    [Trait("case", "H2-15")]
    public async Task Fifty_attacking_connections_within_a_second_write_at_most_ten_lines_a_second_then_a_suppressed_count()
    {
        await using var server = await DefenceServer.StartAsync();
        var clients = new List<H2Client>();
        try
        {
            // TLS first (not an attack), then all 50 attacks at once.
            for (var i = 0; i < 50; i += 10)
            {
                clients.AddRange(await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => server.ConnectAsync())));
            }

            var burstStart = server.Logs.Elapsed;
            await Task.WhenAll(clients.Select(c => c.TrySendAsync(Attack)));
            var burstSent = server.Logs.Elapsed - burstStart;
            Assert.True(burstSent < TimeSpan.FromSeconds(1), $"the 50 attacks took {burstSent.TotalMilliseconds:F0} ms to send");
            var closed = await Task.WhenAll(clients.Select(c => c.ClosedWithinAsync(TimeSpan.FromSeconds(10))));
            Assert.All(closed, Assert.True);

            // One more attack after the window: its line (or the one before it) reports the suppressed count.
            await Task.Delay(1500);
            var lateStart = server.Logs.Elapsed;
            await using var late = await server.ConnectAsync();
            await late.TrySendAsync(Attack);
            Assert.True(await late.ClosedWithinAsync(Quick));
            await server.Logs.WaitForAsync(lines => lines.Any(l => l.Message.Contains("suppressed", StringComparison.OrdinalIgnoreCase)), TimeSpan.FromSeconds(2));
            await Task.Delay(300);

            var errors = server.Logs.WithEvent(EventName);
            Assert.NotEmpty(errors);
            Assert.All(errors, l => Assert.Equal(LogLevel.Warning, l.Level));
            var burst = errors.Where(l => l.At < lateStart).ToList();
            foreach (var first in burst)
            {
                var inWindow = burst.Count(l => l.At >= first.At && l.At < first.At + TimeSpan.FromSeconds(1));
                Assert.True(inWindow <= 11, $"{inWindow} {EventName} lines within one second:\n{string.Join("\n", burst)}");
            }

            Assert.True(burst.Count < 50, $"all {burst.Count} connection errors were logged");
            Assert.Contains(server.Logs.Lines, l => l.Level == LogLevel.Warning && l.Message.Contains("suppressed", StringComparison.OrdinalIgnoreCase));
            Assert.DoesNotContain(server.Logs.Lines, l => l.Level > LogLevel.Warning);
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }
}
