using System.Diagnostics;

namespace Hbone.TunnelBench;

/// <summary>New connections per second: connect, one byte there and back, close; C workers for S seconds.</summary>
internal static class ConnRateTest
{
    public static async Task<int> RunAsync(Options options, CancellationToken token)
    {
        options.Allow("target", "seconds", "concurrency");
        var target = options.EndPoint("target");
        var duration = TimeSpan.FromSeconds(options.Seconds("seconds", 5, 600));
        var concurrency = options.Int("concurrency", 4, 1, 1024);

        long completed = 0, failed = 0;
        string? firstError = null;
        var clock = Stopwatch.StartNew();
        async Task WorkerAsync()
        {
            while (clock.Elapsed < duration && !token.IsCancellationRequested)
            {
                // Each attempt is bounded too, so a stuck tunnel cannot outlast the run by more than 5 s.
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(token);
                attempt.CancelAfter(TimeSpan.FromSeconds(5));
                try
                {
                    using var socket = await Wire.ConnectAsync(target, attempt.Token);
                    await Wire.PingAsync(socket, attempt.Token);
                    Interlocked.Increment(ref completed);
                }
                catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or OperationCanceledException or BenchException)
                {
                    Interlocked.Increment(ref failed);
                    Interlocked.CompareExchange(ref firstError, e.Message, null);
                }
            }
        }
        var workers = new Task[concurrency];
        for (var i = 0; i < concurrency; i++)
        {
            workers[i] = Task.Run(WorkerAsync, CancellationToken.None);
        }
        await Task.WhenAll(workers);
        var seconds = clock.Elapsed.TotalSeconds;

        Wire.PrintJson(w =>
        {
            w.WriteString("test", "connrate");
            w.WriteString("target", target.ToString());
            w.WriteNumber("concurrency", concurrency);
            w.WriteNumber("seconds", Math.Round(seconds, 3));
            w.WriteNumber("connections", completed);
            w.WriteNumber("errors", failed);
            w.WriteNumber("connections_per_s", Math.Round(completed / seconds, 1));
            if (firstError is not null)
            {
                w.WriteString("first_error", firstError);
            }
        });
        return completed > 0 ? 0 : 1;
    }
}
