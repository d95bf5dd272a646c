using BenchmarkDotNet.Attributes;
using Hbone.Http2;

namespace Hbone.Benchmarks;

/// <summary>
/// The server engine's DATA paths (Hbone.Kestrel/Http2) on one tunnel of one in-memory connection: frames
/// parsed into the tunnel's input, and tunnel output framed as DATA under flow control. The path runs
/// synchronously (see <see cref="ServerEngineHarness"/>), so Mean is CPU per frame without thread hops.
/// </summary>
[MemoryDiagnoser]
public class ServerEngineBenchmarks
{
    private readonly byte[] _frame16K = ServerEngineHarness.DataFrame(16 * 1024);
    private readonly byte[] _payload16K = new byte[16 * 1024];
    private readonly byte[] _payload1K = new byte[1024];
    private ServerEngineHarness? _harness;

    [GlobalSetup]
    public void Setup()
    {
        _harness = new ServerEngineHarness();
        _harness.OpenTunnelAsync().GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup() => _harness?.DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>One 16 KiB DATA frame from the client, read and consumed through the tunnel's input.</summary>
    [Benchmark]
    public async ValueTask<long> ReceiveData16K()
    {
        var harness = _harness!;
        harness.SendToServer(_frame16K);
        var input = harness.Tunnel.Input;
        long received = 0;
        while (received < _payload16K.Length)
        {
            var result = await input.ReadAsync().ConfigureAwait(false);
            received += result.Buffer.Length;
            input.AdvanceTo(result.Buffer.End);
        }

        // The engine's WINDOW_UPDATEs for what was consumed.
        harness.ReceiveFromServer(0);
        return received;
    }

    /// <summary>16 KiB written to the tunnel's output and flushed: one DATA frame to the client.</summary>
    [Benchmark]
    public ValueTask SendData16K() => SendAsync(_payload16K);

    /// <summary>A 1 KiB write and flush, as in request/response traffic.</summary>
    [Benchmark]
    public ValueTask SendData1K() => SendAsync(_payload1K);

    private async ValueTask SendAsync(byte[] payload)
    {
        var harness = _harness!;
        var output = harness.Tunnel.Output;
        payload.CopyTo(output.GetSpan(payload.Length));
        output.Advance(payload.Length);
        var flush = output.FlushAsync();
        harness.ReceiveFromServer(payload.Length);
        var result = await flush.ConfigureAwait(false);
        if (result.IsCompleted)
        {
            throw new InvalidOperationException($"The tunnel's output ended ({Http2ErrorCode.NoError} expected).");
        }
    }
}
