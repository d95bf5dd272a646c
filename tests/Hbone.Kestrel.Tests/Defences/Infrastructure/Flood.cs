using System.Diagnostics;

namespace Hbone.Kestrel.Tests.Defences.Infrastructure;

/// <summary>Bounded floods: a frame repeated in batches, until a count, a time budget, a GOAWAY or the close.</summary>
internal static class Flood
{
    /// <summary>Sends up to <paramref name="count"/> copies of <paramref name="frame"/>; returns how many were written.</summary>
    public static async Task<int> SendAsync(H2Client client, byte[] frame, int count, TimeSpan budget, int batch = 500)
    {
        using var cts = new CancellationTokenSource(budget);
        var clock = Stopwatch.StartNew();
        var bytes = Frames.Repeat(frame, batch);
        var sent = 0;
        while (sent < count && clock.Elapsed < budget && !client.FirstGoAway.Task.IsCompleted && !client.Closed.Task.IsCompleted)
        {
            var n = Math.Min(batch, count - sent);
            if (!await client.TrySendAsync(n == batch ? bytes : Frames.Repeat(frame, n), cts.Token))
            {
                break;
            }

            sent += n;
        }

        return sent;
    }
}
