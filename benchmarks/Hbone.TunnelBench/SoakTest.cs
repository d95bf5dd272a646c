using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Hbone.TunnelBench;

/// <summary>
/// Churn with faults for benchmarks/soak/run.sh: WORKERS loops, each connecting to the target (hbone forward's
/// listener, in front of an <c>echo --faults 1</c> upstream) and running one behaviour picked with a seeded RNG:
/// <list type="bullet">
/// <item>normal: a 1–256 KiB echo verified by SHA-256, then a clean close;</item>
/// <item>half-close: send, shutdown(Send), read the echo to EOF, verify;</item>
/// <item>reset: send part of a payload, read some echo, close with RST (linger 0);</item>
/// <item>slow-reader: read a 32–80 KiB echo at ~16 KiB/s, verify;</item>
/// <item>vanish: go silent (no reads, no writes, unread echo pending) for 2–5 s, then RST;</item>
/// <item>upstream-reset: the echo server resets its side after N bytes (<see cref="FaultHeader"/>); the client must see
/// a reset or an early EOF, with the bytes it did get matching what it sent.</item>
/// </list>
/// Every operation has a deadline. Cumulative counters go to stdout as one JSON line per --every seconds (the last
/// one with "final": true after the workers stopped); each unexpected failure (up to 100) is one line on stderr.
/// "lost" counts normal and half-close exchanges that failed or returned wrong bytes: it must stay 0.
/// </summary>
internal static class SoakTest
{
    /// <summary>A connection whose first 12 bytes are "RESET-AT" + a big-endian uint32 N is reset by the echo
    /// server (with --faults 1) once it has echoed N bytes (the header included). No other payload starts with 'R'.</summary>
    public static ReadOnlySpan<byte> FaultHeader => "RESET-AT"u8;
    public const int FaultHeaderLength = 12;

    private static readonly string[] Names = ["normal", "half-close", "reset", "slow-reader", "vanish", "upstream-reset"];
    // Weights in percent, in the order of Names.
    private static readonly int[] Weights = [30, 20, 15, 10, 10, 15];

    private enum Result { Completed, ResetOnPurpose }

    private sealed class Counters
    {
        public long Opened, Completed, Reset, Failed, Lost, ConnectFailed, InFlight;
        public readonly long[] FailedBy = new long[Names.Length];
        public readonly long[] RunBy = new long[Names.Length];
    }

    public static async Task<int> RunAsync(Options options, CancellationToken token)
    {
        options.Allow("target", "seconds", "workers", "seed", "every");
        var target = options.EndPoint("target");
        var duration = TimeSpan.FromSeconds(options.Seconds("seconds", 60, 7 * 24 * 3600));
        var workers = options.Int("workers", 32, 1, 1024);
        var seed = options.Int("seed", 1, 0, int.MaxValue);
        var every = TimeSpan.FromSeconds(Math.Max(0.1, options.Seconds("every", 1, 3600)));

        var counters = new Counters();
        long reportedFailures = 0;
        var clock = Stopwatch.StartNew();
        bool Running() => clock.Elapsed < duration && !token.IsCancellationRequested;

        void Print(bool final) => Wire.PrintJson(w =>
        {
            w.WriteString("test", "soak");
            w.WriteNumber("elapsed_s", Math.Round(clock.Elapsed.TotalSeconds, 1));
            w.WriteNumber("opened", Interlocked.Read(ref counters.Opened));
            w.WriteNumber("completed", Interlocked.Read(ref counters.Completed));
            w.WriteNumber("reset", Interlocked.Read(ref counters.Reset));
            w.WriteNumber("failed", Interlocked.Read(ref counters.Failed));
            w.WriteNumber("lost", Interlocked.Read(ref counters.Lost));
            w.WriteNumber("connect_failed", Interlocked.Read(ref counters.ConnectFailed));
            w.WriteNumber("in_flight", Interlocked.Read(ref counters.InFlight));
            w.WriteStartObject("runs");
            for (var i = 0; i < Names.Length; i++)
            {
                w.WriteNumber(Names[i], Interlocked.Read(ref counters.RunBy[i]));
            }
            w.WriteEndObject();
            w.WriteStartObject("failed_by");
            for (var i = 0; i < Names.Length; i++)
            {
                w.WriteNumber(Names[i], Interlocked.Read(ref counters.FailedBy[i]));
            }
            w.WriteEndObject();
            w.WriteBoolean("final", final);
        });

        async Task WorkerAsync(int index)
        {
            var random = new Random(unchecked(seed * 7919 + index));
            while (Running())
            {
                var behaviour = Pick(random);
                Interlocked.Increment(ref counters.RunBy[behaviour]);
                Interlocked.Increment(ref counters.InFlight);
                // Deadlines: the operation's own duration (slow reader 2–5 s, vanish 2–5 s) plus slack for a loaded machine.
                using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(behaviour is 3 or 4 ? 20 : 10));
                var opened = false;
                try
                {
                    using var socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    try
                    {
                        await socket.ConnectAsync(target, deadline.Token);
                    }
                    catch (Exception e) when (IsNetworkError(e))
                    {
                        Interlocked.Increment(ref counters.ConnectFailed);
                        throw;
                    }
                    opened = true;
                    Interlocked.Increment(ref counters.Opened);
                    var result = behaviour switch
                    {
                        0 => await NormalAsync(socket, random, halfClose: false, deadline.Token),
                        1 => await NormalAsync(socket, random, halfClose: true, deadline.Token),
                        2 => await ResetAsync(socket, random, deadline.Token),
                        3 => await SlowReaderAsync(socket, random, deadline.Token),
                        4 => await VanishAsync(socket, random, deadline.Token),
                        _ => await UpstreamResetAsync(socket, random, deadline.Token),
                    };
                    Interlocked.Increment(ref (result == Result.Completed ? ref counters.Completed : ref counters.Reset));
                }
                catch (Exception e) when (IsNetworkError(e) || e is BenchException)
                {
                    Interlocked.Increment(ref counters.Failed);
                    Interlocked.Increment(ref counters.FailedBy[behaviour]);
                    if (behaviour is 0 or 1)
                    {
                        Interlocked.Increment(ref counters.Lost);
                    }
                    if (Interlocked.Increment(ref reportedFailures) <= 100)
                    {
                        var what = e is OperationCanceledException && deadline.IsCancellationRequested ? "deadline exceeded" : $"{e.GetType().Name}: {e.Message}";
                        Console.Error.WriteLine($"soak: {clock.Elapsed.TotalSeconds:F1} s: {Names[behaviour]} failed{(opened ? "" : " to connect")}: {what}");
                    }
                }
                finally
                {
                    Interlocked.Decrement(ref counters.InFlight);
                }
            }
        }

        var tasks = new Task[workers];
        for (var i = 0; i < workers; i++)
        {
            var index = i;
            tasks[i] = Task.Run(() => WorkerAsync(index), CancellationToken.None);
        }
        var all = Task.WhenAll(tasks);
        while (!all.IsCompleted)
        {
            await Task.WhenAny(all, Task.Delay(every, CancellationToken.None));
            if (!all.IsCompleted)
            {
                Print(final: false);
            }
        }
        await all;
        Print(final: true);
        return 0;
    }

    private static int Pick(Random random)
    {
        var roll = random.Next(100);
        for (var i = 0; i < Weights.Length; i++)
        {
            if ((roll -= Weights[i]) < 0)
            {
                return i;
            }
        }
        return 0;
    }

    private static bool IsNetworkError(Exception e) =>
        e is SocketException or IOException or OperationCanceledException or ObjectDisposedException;

    private static byte[] Payload(Random random, int size)
    {
        var payload = new byte[size];
        random.NextBytes(payload);
        if (payload[0] == (byte)'R')
        {
            payload[0] = (byte)'r';   // never the fault header
        }
        return payload;
    }

    /// <summary>(a) and (b): the whole echo, verified by SHA-256; then a clean close or a half-close read to EOF.</summary>
    private static async Task<Result> NormalAsync(Socket socket, Random random, bool halfClose, CancellationToken token)
    {
        var payload = Payload(random, random.Next(1, 256 * 1024 + 1));
        var sending = SendAsync(socket, payload, shutdown: halfClose, token);
        var (received, hash) = await ReceiveAsync(socket, halfClose ? int.MaxValue : payload.Length, chunk: 64 * 1024, delay: TimeSpan.Zero, token);
        await sending;
        if (received != payload.Length)
        {
            throw new BenchException($"echoed {received} of {payload.Length} bytes before EOF");
        }
        if (!hash.AsSpan().SequenceEqual(SHA256.HashData(payload)))
        {
            throw new BenchException($"the echo of {payload.Length} bytes differs from what was sent (SHA-256)");
        }
        return Result.Completed;
    }

    /// <summary>(c): part of a payload, at least one echoed byte (the tunnel is up end to end), then RST.</summary>
    private static async Task<Result> ResetAsync(Socket socket, Random random, CancellationToken token)
    {
        var payload = Payload(random, random.Next(16 * 1024, 256 * 1024 + 1));
        var part = random.Next(1, payload.Length);
        await Wire.SendAllAsync(socket, payload.AsMemory(0, part), token);
        var buffer = new byte[Math.Min(part, 8 * 1024)];
        var read = await socket.ReceiveAsync(buffer, SocketFlags.None, token);
        if (read == 0 || !buffer.AsSpan(0, read).SequenceEqual(payload.AsSpan(0, read)))
        {
            throw new BenchException(read == 0 ? "EOF before any echo" : "the echo differs from what was sent");
        }
        socket.LingerState = new LingerOption(true, 0);
        socket.Close();
        return Result.ResetOnPurpose;
    }

    /// <summary>(d): a 32–80 KiB echo read in 4 KiB pieces every 250 ms (~16 KiB/s), verified.</summary>
    private static async Task<Result> SlowReaderAsync(Socket socket, Random random, CancellationToken token)
    {
        var payload = Payload(random, random.Next(32 * 1024, 80 * 1024 + 1));
        var sending = SendAsync(socket, payload, shutdown: false, token);
        var (received, hash) = await ReceiveAsync(socket, payload.Length, chunk: 4 * 1024, delay: TimeSpan.FromMilliseconds(250), token);
        await sending;
        if (received != payload.Length || !hash.AsSpan().SequenceEqual(SHA256.HashData(payload)))
        {
            throw new BenchException($"slow read: echoed {received} of {payload.Length} bytes, or different bytes");
        }
        return Result.Completed;
    }

    /// <summary>(e): one echoed exchange, then more data sent and never read, 2–5 s of silence, then RST (a dead peer).</summary>
    private static async Task<Result> VanishAsync(Socket socket, Random random, CancellationToken token)
    {
        var first = Payload(random, random.Next(1, 16 * 1024 + 1));
        await Wire.SendAllAsync(socket, first, token);
        var echo = new byte[first.Length];
        await Wire.ReceiveExactlyAsync(socket, echo, token);
        if (!echo.AsSpan().SequenceEqual(first))
        {
            throw new BenchException("vanish: the first echo differs from what was sent");
        }
        // Small enough to fit the socket buffers on the way: the send itself must not block.
        await Wire.SendAllAsync(socket, Payload(random, random.Next(1, 32 * 1024 + 1)), token);
        await Task.Delay(TimeSpan.FromMilliseconds(random.Next(2000, 5001)), token);
        socket.LingerState = new LingerOption(true, 0);
        socket.Close();
        return Result.ResetOnPurpose;
    }

    /// <summary>(f): the upstream resets after N bytes; the client must see a reset or an EOF before the end of what
    /// it sent, with every byte it got matching. A hang (deadline) means the reset was not propagated.</summary>
    private static async Task<Result> UpstreamResetAsync(Socket socket, Random random, CancellationToken token)
    {
        var resetAfter = random.Next(FaultHeaderLength + 1, 64 * 1024 + 1);
        var payload = Payload(random, resetAfter + random.Next(1, 64 * 1024 + 1));
        FaultHeader.CopyTo(payload);
        BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan(8), (uint)resetAfter);
        // Sending may fail once the reset arrives: expected, the reads decide.
        var sending = SendAsync(socket, payload, shutdown: false, token);
        var buffer = new byte[16 * 1024];
        var received = 0;
        try
        {
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None, token);
                if (read == 0)
                {
                    break;   // EOF instead of a reset: the tunnel still ended early (checked below)
                }
                if (received + read > payload.Length || !buffer.AsSpan(0, read).SequenceEqual(payload.AsSpan(received, read)))
                {
                    throw new BenchException("upstream-reset: the bytes before the reset differ from what was sent");
                }
                received += read;
            }
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
        {
        }
        try
        {
            await sending;
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
        {
        }
        if (received > resetAfter)
        {
            throw new BenchException($"upstream-reset: {received} bytes echoed, but the upstream reset after {resetAfter}");
        }
        return Result.ResetOnPurpose;
    }

    private static async Task SendAsync(Socket socket, byte[] payload, bool shutdown, CancellationToken token)
    {
        await Task.Yield();
        await Wire.SendAllAsync(socket, payload, token);
        if (shutdown)
        {
            socket.Shutdown(SocketShutdown.Send);
        }
    }

    /// <summary>Reads up to LIMIT bytes (or to EOF when LIMIT is int.MaxValue) in CHUNK pieces, DELAY between reads.</summary>
    private static async Task<(int Received, byte[] Hash)> ReceiveAsync(Socket socket, int limit, int chunk, TimeSpan delay, CancellationToken token)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[chunk];
        var received = 0;
        while (received < limit)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(0, Math.Min(chunk, limit - received)), SocketFlags.None, token);
            if (read == 0)
            {
                if (limit == int.MaxValue)
                {
                    break;
                }
                throw new BenchException($"EOF after {received} of {limit} echoed bytes");
            }
            hash.AppendData(buffer, 0, read);
            received += read;
            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay, token);
            }
        }
        return (received, hash.GetHashAndReset());
    }
}
