using BenchmarkDotNet.Attributes;
using Hbone.Http2;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hbone.Benchmarks;

/// <summary>
/// The client's HTTP/2 hot paths: frame headers, and DATA through the real send path (flow control, frame
/// encoding, the writer loop) to an in-memory peer that returns credit.
/// </summary>
[MemoryDiagnoser]
public class Http2FrameBenchmarks
{
    private readonly byte[] _header = new byte[FrameHeader.Size];
    private readonly byte[] _payload16K = new byte[16 * 1024];
    private readonly byte[] _payload1K = new byte[1024];
    private InMemoryHttp2Peer? _peer;
    private Http2ClientConnection? _connection;
    private Http2ClientStream? _stream;

    [GlobalSetup]
    public void Setup()
    {
        FrameHeader.Write(_header, 16384, FrameType.Data, FrameFlags.EndStream, 1);
        _peer = new InMemoryHttp2Peer();
        _connection = Http2ClientConnection.StartAsync(_peer, new Http2ConnectionSettings { KeepAlivePingDelay = TimeSpan.FromHours(1) }, NullLogger.Instance, CancellationToken.None).GetAwaiter().GetResult();
        _connection.TryReserveStream();
        _stream = _connection.OpenStream([0x82], endStream: false);
    }

    [GlobalCleanup]
    public void Cleanup() => _connection?.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark]
    public int ReadFrameHeader() => FrameHeader.Read(_header).Length;

    [Benchmark]
    public void WriteFrameHeader() => FrameHeader.Write(_header, 16384, FrameType.Data, FrameFlags.None, 1);

    /// <summary>One 16 KiB DATA frame through flow control, the write buffer and the writer loop.</summary>
    [Benchmark]
    public ValueTask SendData16K() => _stream!.WriteAsync(_payload16K, CancellationToken.None);

    /// <summary>A small write, as in request/response traffic.</summary>
    [Benchmark]
    public ValueTask SendData1K() => _stream!.WriteAsync(_payload1K, CancellationToken.None);
}
