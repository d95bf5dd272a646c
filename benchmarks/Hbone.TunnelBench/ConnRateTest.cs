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

        var result = await RateRun.RunAsync(
            concurrency,
            duration,
            async attempt =>
            {
                using var socket = await Wire.ConnectAsync(target, attempt);
                await Wire.PingAsync(socket, attempt);
            },
            static e => e is System.Net.Sockets.SocketException or IOException or OperationCanceledException or BenchException,
            token);

        Wire.PrintJson(w =>
        {
            w.WriteString("test", "connrate");
            w.WriteString("target", target.ToString());
            w.WriteNumber("concurrency", concurrency);
            result.Write(w, "connections");
        });
        return result.Completed > 0 ? 0 : 1;
    }
}
