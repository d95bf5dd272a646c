using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using Hbone.Relay;

namespace Hbone.Benchmarks;

/// <summary>
/// Steady-state copy of one long-lived <see cref="TunnelRelay"/> between two loopback TCP connections:
/// app ⇄ [A relay B] ⇄ upstream. Each op moves 1 MiB; allocations per op should be about zero.
/// </summary>
[MemoryDiagnoser]
public class RelayBenchmarks
{
    private const int Chunk = 64 * 1024;
    private const int PerOp = 1024 * 1024;

    private readonly byte[] _send = new byte[Chunk];
    private readonly byte[] _receive = new byte[Chunk];
    private Socket _app = null!;
    private Socket _a = null!;
    private Socket _upstream = null!;
    private Socket _b = null!;
    private TunnelRelay _relay = null!;
    private Task<TunnelOutcome> _run = null!;

    /// <summary>Opens both connections and starts the relay once for all ops.</summary>
    [GlobalSetup]
    public void Setup()
    {
        (_app, _a) = Pair();
        (_upstream, _b) = Pair();
        _relay = new TunnelRelay(RelayEndpoint.Create(_a), RelayEndpoint.Create(_b));
        _run = _relay.RunAsync();
    }

    /// <summary>Half-closes both ways and waits for the relay to finish.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _app.Shutdown(SocketShutdown.Send);
        _upstream.Shutdown(SocketShutdown.Send);
        _run.Wait(TimeSpan.FromSeconds(10));
        foreach (var socket in new[] { _app, _a, _upstream, _b })
        {
            socket.Dispose();
        }
    }

    /// <summary>1 MiB from the app to the upstream, in 64 KiB writes each read back before the next.</summary>
    [Benchmark]
    public long SocketToSocket_1MiB()
    {
        for (var moved = 0; moved < PerOp; moved += Chunk)
        {
            SendAll(_app);
            ReceiveAll(_upstream);
        }

        return _relay.BytesAToB;
    }

    /// <summary>512 KiB each way: both copy loops of the relay in one op.</summary>
    [Benchmark]
    public long SocketToSocket_BothWays_1MiB()
    {
        for (var moved = 0; moved < PerOp; moved += 2 * Chunk)
        {
            SendAll(_app);
            SendAll(_upstream);
            ReceiveAll(_upstream);
            ReceiveAll(_app);
        }

        return _relay.BytesAToB + _relay.BytesBToA;
    }

    private void SendAll(Socket socket)
    {
        // Blocking calls on the benchmark thread: the only async work (and allocation) measured is the relay's.
        for (var sent = 0; sent < Chunk;)
        {
            sent += socket.Send(_send, sent, Chunk - sent, SocketFlags.None);
        }
    }

    private void ReceiveAll(Socket socket)
    {
        for (var received = 0; received < Chunk;)
        {
            var read = socket.Receive(_receive, received, Chunk - received, SocketFlags.None);
            if (read == 0)
            {
                throw new InvalidOperationException("The relay ended the connection.");
            }

            received += read;
        }
    }

    private static (Socket Outer, Socket Inner) Pair()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var outer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        outer.Connect(listener.LocalEndPoint!);
        return (outer, listener.Accept());
    }
}
