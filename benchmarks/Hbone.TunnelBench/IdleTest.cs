using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;

namespace Hbone.TunnelBench;

/// <summary>
/// Memory per idle tunnel: VmRSS of the tunnel's processes before and after COUNT connections that each
/// echoed one byte (so every tunnel is established end to end) and then stay open and silent.
/// </summary>
internal static class IdleTest
{
    public static async Task<int> RunAsync(Options options, CancellationToken token)
    {
        options.Allow("target", "pids", "count", "batch", "timeout", "settle");
        var target = options.EndPoint("target");
        var processes = ParsePids(options.Required("pids"));
        var count = options.Int("count", 10_000, 1, 100_000);
        var batch = options.Int("batch", 200, 1, 10_000);
        var settle = TimeSpan.FromSeconds(options.Seconds("settle", 1, 60));
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(token);
        deadline.CancelAfter(TimeSpan.FromSeconds(options.Seconds("timeout", 120, 3600)));

        var before = processes.Select(p => ProcStatus.Read(p.Pid)).ToArray();
        var sockets = new List<Socket>(count);
        long failed = 0;
        string? firstError = null;
        var clock = Stopwatch.StartNew();
        try
        {
            while (sockets.Count < count && !deadline.IsCancellationRequested)
            {
                var opening = new Task<Socket?>[Math.Min(batch, count - sockets.Count)];
                for (var i = 0; i < opening.Length; i++)
                {
                    opening[i] = OpenAsync();
                }
                foreach (var socket in await Task.WhenAll(opening))
                {
                    if (socket is not null)
                    {
                        sockets.Add(socket);
                    }
                }
                if (failed > count / 100 + 10)
                {
                    break;
                }
            }
            var openSeconds = clock.Elapsed.TotalSeconds;

            // The tunnels finished their first round trip; give lazy allocations (GC, pools) a moment to land.
            await Task.Delay(settle, deadline.Token);
            var after = processes.Select(p => ProcStatus.Read(p.Pid)).ToArray();
            var opened = sockets.Count;

            Wire.PrintJson(w =>
            {
                w.WriteString("test", "idle");
                w.WriteString("target", target.ToString());
                w.WriteNumber("requested", count);
                w.WriteNumber("opened", opened);
                w.WriteNumber("errors", failed);
                if (firstError is not null)
                {
                    w.WriteString("first_error", firstError);
                }
                w.WriteNumber("open_seconds", Math.Round(openSeconds, 2));
                w.WriteStartArray("processes");
                long totalDelta = 0;
                for (var i = 0; i < processes.Length; i++)
                {
                    var delta = after[i].RssBytes - before[i].RssBytes;
                    totalDelta += delta;
                    w.WriteStartObject();
                    w.WriteString("name", processes[i].Name);
                    w.WriteNumber("pid", processes[i].Pid);
                    w.WriteNumber("rss_before_bytes", before[i].RssBytes);
                    w.WriteNumber("rss_after_bytes", after[i].RssBytes);
                    w.WriteNumber("threads_before", before[i].Threads);
                    w.WriteNumber("threads_after", after[i].Threads);
                    w.WriteNumber("rss_delta_per_conn_bytes", opened == 0 ? 0 : delta / opened);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteNumber("total_rss_delta_per_conn_bytes", opened == 0 ? 0 : totalDelta / opened);
            });
            return opened == count ? 0 : 1;
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }

        async Task<Socket?> OpenAsync()
        {
            Socket? socket = null;
            try
            {
                socket = await Wire.ConnectAsync(target, deadline.Token);
                await Wire.PingAsync(socket, deadline.Token);
                return socket;
            }
            catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or BenchException)
            {
                socket?.Dispose();
                Interlocked.Increment(ref failed);
                Interlocked.CompareExchange(ref firstError, e.Message, null);
                return null;
            }
        }
    }

    private static (string Name, int Pid)[] ParsePids(string text)
    {
        var result = new List<(string, int)>();
        foreach (var item in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var equals = item.IndexOf('=', StringComparison.Ordinal);
            var name = equals < 0 ? item : item[..equals];
            var pidText = equals < 0 ? item : item[(equals + 1)..];
            if (!int.TryParse(pidText, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid <= 0)
            {
                throw new UsageException($"--pids item '{item}' is not [NAME=]PID");
            }
            result.Add((name, pid));
        }
        return result.Count > 0 ? result.ToArray() : throw new UsageException("--pids names no process");
    }
}

/// <summary>The two lines of /proc/PID/status this benchmark needs.</summary>
internal readonly record struct ProcStatus(long RssBytes, int Threads)
{
    public static ProcStatus Read(int pid)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines($"/proc/{pid}/status");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BenchException($"cannot read /proc/{pid}/status: {e.Message}");
        }
        long rss = -1;
        var threads = 0;
        foreach (var line in lines)
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                // "VmRSS:     12345 kB"
                rss = long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) * 1024;
            }
            else if (line.StartsWith("Threads:", StringComparison.Ordinal))
            {
                threads = int.Parse(line.AsSpan(8).Trim(), CultureInfo.InvariantCulture);
            }
        }
        return rss >= 0 ? new ProcStatus(rss, threads) : throw new BenchException($"/proc/{pid}/status has no VmRSS line");
    }
}
