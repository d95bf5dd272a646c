using System.Reflection;
using System.Security.Cryptography;
using Hbone.Client;
using Hbone.Http2;

namespace Hbone.Client.Tests.Infrastructure;

/// <summary>Byte-exact traffic through tunnels, and a look at the HTTP/2 connection under a tunnel.</summary>
internal static class Tunnels
{
    /// <summary>Writes <paramref name="payload"/>, half-closes, and reads to the end at the same time; returns what came back.</summary>
    public static async Task<byte[]> RoundTripAsync(Stream tunnel, ReadOnlyMemory<byte> payload, TimeSpan? deadline = null, bool completeWrites = true)
    {
        var reader = ReadToEndAsync(tunnel);
        var writer = Task.Run(async () =>
        {
            for (var offset = 0; offset < payload.Length; offset += 64 * 1024)
            {
                await tunnel.WriteAsync(payload.Slice(offset, Math.Min(64 * 1024, payload.Length - offset)));
            }

            if (completeWrites && tunnel is HboneStream hbone)
            {
                await hbone.CompleteWritesAsync();
            }
        });
        await Task.WhenAll(writer, reader).WaitAsync(deadline ?? ClientFixture.Deadline);
        return await reader;
    }

    /// <summary>Writes <paramref name="count"/> bytes and reads exactly <paramref name="count"/> back (an echo), without half-closing.</summary>
    public static async Task EchoExchangeAsync(Stream tunnel, int count, TimeSpan? deadline = null)
    {
        var payload = RandomNumberGenerator.GetBytes(count);
        var received = new byte[count];
        await tunnel.WriteAsync(payload).AsTask().WaitAsync(deadline ?? ClientFixture.Deadline);
        await tunnel.ReadExactlyAsync(received).AsTask().WaitAsync(deadline ?? ClientFixture.Deadline);
        if (!payload.AsSpan().SequenceEqual(received))
        {
            throw new InvalidOperationException("The echo differs from what was sent.");
        }
    }

    public static async Task<byte[]> ReadToEndAsync(Stream tunnel)
    {
        var output = new MemoryStream();
        await tunnel.CopyToAsync(output);
        return output.ToArray();
    }

    /// <summary>
    /// Sends <paramref name="size"/> seeded pseudo-random bytes while reading the echo, hashing both sides
    /// incrementally (no payload kept in memory); returns (sent hash, received hash, received length).
    /// </summary>
    public static async Task<(byte[] Sent, byte[] Received, long ReceivedLength)> HashedRoundTripAsync(HboneStream tunnel, long size, int seed)
    {
        var reader = Task.Run(async () =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[64 * 1024];
            long total = 0;
            int read;
            while ((read = await tunnel.ReadAsync(buffer)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                total += read;
            }

            return (hash.GetHashAndReset(), total);
        });
        using var sentHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var random = new Random(seed);
        var chunk = new byte[32 * 1024];
        for (long left = size; left > 0;)
        {
            var n = (int)Math.Min(chunk.Length, left);
            random.NextBytes(chunk.AsSpan(0, n));
            sentHash.AppendData(chunk, 0, n);
            await tunnel.WriteAsync(chunk.AsMemory(0, n));
            left -= n;
        }

        await tunnel.CompleteWritesAsync();
        var (received, length) = await reader;
        return (sentHash.GetHashAndReset(), received, length);
    }

    /// <summary>The HTTP/2 connection carrying <paramref name="tunnel"/> (internal state, read for assertions only).</summary>
    public static Http2ClientConnection ConnectionOf(HboneStream tunnel)
    {
        var field = typeof(HboneStream).GetField("_stream", BindingFlags.Instance | BindingFlags.NonPublic)
            ?? throw new InvalidOperationException("HboneStream no longer has a _stream field; update Tunnels.ConnectionOf.");
        return ((Http2ClientStream)field.GetValue(tunnel)!).Connection;
    }

    /// <summary>Polls <paramref name="condition"/> every 20 ms until it holds or <paramref name="timeout"/> passes.</summary>
    public static async Task<bool> EventuallyAsync(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(20);
        }

        return true;
    }
}
