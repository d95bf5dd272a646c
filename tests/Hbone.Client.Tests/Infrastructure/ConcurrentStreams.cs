using Hbone.Client;

namespace Hbone.Client.Tests.Infrastructure;

/// <summary>Many tunnels at once on one pooled key, each sending a seeded random size while reading its echo.</summary>
internal static class ConcurrentStreams
{
    public sealed record Result(int Index, long Size, byte[] Sent, byte[] Received, long ReceivedLength, Hbone.Http2.Http2ClientConnection Connection);

    public static async Task<Result[]> RunAsync(HboneClient client, HboneRequest request, int streams, int maxSize, int seed, TimeSpan deadline)
    {
        var random = new Random(seed);
        var sizes = Enumerable.Range(0, streams).Select(_ => (long)random.Next(0, maxSize + 1)).ToArray();
        sizes[0] = 0;
        sizes[^1] = maxSize;
        var tunnels = await Task.WhenAll(Enumerable.Range(0, streams).Select(_ => Task.Run(() => client.OpenAsync(request))));
        try
        {
            return await Task.WhenAll(tunnels.Select((tunnel, i) => Task.Run(async () =>
            {
                var (sent, received, length) = await Tunnels.HashedRoundTripAsync(tunnel, sizes[i], seed * 1000 + i);
                return new Result(i, sizes[i], sent, received, length, Tunnels.ConnectionOf(tunnel));
            }))).WaitAsync(deadline);
        }
        finally
        {
            foreach (var tunnel in tunnels)
            {
                await tunnel.DisposeAsync();
            }
        }
    }

    public static void AssertExact(Result[] results)
    {
        foreach (var result in results)
        {
            Assert.True(result.Size == result.ReceivedLength, $"stream {result.Index}: sent {result.Size} bytes, received {result.ReceivedLength}");
            Assert.True(result.Sent.AsSpan().SequenceEqual(result.Received), $"stream {result.Index}: SHA-256 of the echo differs");
        }
    }
}
