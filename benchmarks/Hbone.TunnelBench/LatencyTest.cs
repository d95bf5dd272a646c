using System.Diagnostics;

namespace Hbone.TunnelBench;

/// <summary>Request/response latency over one warm connection: write SIZE bytes, read SIZE bytes back.</summary>
internal static class LatencyTest
{
    public static async Task<int> RunAsync(Options options, CancellationToken token)
    {
        options.Allow("target", "size", "count", "warmup", "timeout");
        var target = options.EndPoint("target");
        var size = options.Int("size", 1024, 1, 1 << 20);
        var count = options.Int("count", 10_000, 1, 10_000_000);
        var warmup = options.Int("warmup", 1_000, 0, 10_000_000);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(token);
        deadline.CancelAfter(TimeSpan.FromSeconds(options.Seconds("timeout", 120, 3600)));

        var request = new byte[size];
        Random.Shared.NextBytes(request);
        var response = new byte[size];
        var samples = new long[count];
        using (var socket = await Wire.ConnectAsync(target, deadline.Token))
        {
            for (var i = 0; i < warmup + count; i++)
            {
                var start = Stopwatch.GetTimestamp();
                await Wire.SendAllAsync(socket, request, deadline.Token);
                await Wire.ReceiveExactlyAsync(socket, response, deadline.Token);
                var elapsed = Stopwatch.GetTimestamp() - start;
                if (i >= warmup)
                {
                    samples[i - warmup] = elapsed;
                }
                if (!response.AsSpan().SequenceEqual(request))
                {
                    throw new BenchException($"round trip {i}: the echoed bytes differ from the ones sent");
                }
            }
        }

        Array.Sort(samples);
        double Micros(long ticks) => Math.Round(ticks * 1_000_000.0 / Stopwatch.Frequency, 1);
        double Percentile(double p) => Micros(samples[Math.Clamp((int)Math.Ceiling(p * count) - 1, 0, count - 1)]);
        double total = 0;
        foreach (var s in samples)
        {
            total += s;
        }
        Wire.PrintJson(w =>
        {
            w.WriteString("test", "latency");
            w.WriteString("target", target.ToString());
            w.WriteNumber("size", size);
            w.WriteNumber("count", count);
            w.WriteNumber("warmup", warmup);
            w.WriteNumber("p50_us", Percentile(0.50));
            w.WriteNumber("p90_us", Percentile(0.90));
            w.WriteNumber("p99_us", Percentile(0.99));
            w.WriteNumber("mean_us", Math.Round(total / count * 1_000_000.0 / Stopwatch.Frequency, 1));
            w.WriteNumber("max_us", Micros(samples[^1]));
        });
        return 0;
    }
}
