using System.Threading.Channels;

namespace Hbone.Kestrel.Tests.Infrastructure;

/// <summary>One stream of <see cref="RawHttp2Connection"/>: response headers, DATA in, DATA out, resets.</summary>
internal sealed class RawStream
{
    private readonly RawHttp2Connection _connection;
    private readonly Channel<byte[]> _data = Channel.CreateUnbounded<byte[]>();
    private readonly TaskCompletionSource<List<(string Name, string Value)>> _headers = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private byte[]? _current;
    private int _offset;

    public RawStream(RawHttp2Connection connection, int id, int sendWindow)
    {
        _connection = connection;
        Id = id;
        SendWindow = sendWindow;
    }

    public int Id { get; }

    /// <summary>The payload size of every DATA frame received, in order (read it once the stream ended).</summary>
    public System.Collections.Concurrent.ConcurrentQueue<int> DataFrameSizes { get; } = new();

    internal long SendWindow { get; set; }

    public Task<List<(string Name, string Value)>> ResponseHeaders => _headers.Task;

    /// <summary>The RST_STREAM error code the server sent, once it did.</summary>
    public TaskCompletionSource<int> Reset { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the server ended the stream (END_STREAM).</summary>
    public TaskCompletionSource EndOfStream { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task<int> StatusAsync(CancellationToken cancellationToken = default)
    {
        var headers = await ResponseHeaders.WaitAsync(cancellationToken);
        return int.Parse(headers.Find(h => h.Name == ":status").Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    public Task WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default) =>
        _connection.SendDataAsync(this, data, endStream: false, cancellationToken);

    /// <summary>Sends END_STREAM (an empty DATA frame): the tunnel's half-close.</summary>
    public Task EndAsync(CancellationToken cancellationToken = default) =>
        _connection.WriteFrameAsync(FrameType.Data, FrameFlags.EndStream, Id, ReadOnlyMemory<byte>.Empty, cancellationToken);

    public Task ResetAsync(int errorCode, CancellationToken cancellationToken = default) =>
        _connection.WriteRstStreamAsync(Id, errorCode, cancellationToken);

    /// <summary>Reads payload; 0 at END_STREAM. Throws <see cref="StreamResetException"/> when the stream was reset.</summary>
    public async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (_current is null || _offset == _current.Length)
        {
            if (!await _data.Reader.WaitToReadAsync(cancellationToken))
            {
                if (Reset.Task.IsCompleted)
                {
                    throw new StreamResetException(await Reset.Task);
                }

                return 0;
            }

            _data.Reader.TryRead(out _current);
            _offset = 0;
        }

        var count = Math.Min(buffer.Length, _current.Length - _offset);
        _current.AsMemory(_offset, count).CopyTo(buffer);
        _offset += count;
        return count;
    }

    /// <summary>Reads everything until END_STREAM.</summary>
    public async Task<byte[]> ReadToEndAsync(CancellationToken cancellationToken = default)
    {
        var output = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int read;
        while ((read = await ReadAsync(buffer, cancellationToken)) > 0)
        {
            output.Write(buffer, 0, read);
        }

        return output.ToArray();
    }

    internal void OnHeaders(List<(string, string)> headers, bool endStream)
    {
        if (!_headers.TrySetResult(headers) && !endStream)
        {
            return;
        }

        if (endStream)
        {
            EndOfStream.TrySetResult();
            _data.Writer.TryComplete();
        }
    }

    internal void OnData(byte[] payload, bool endStream)
    {
        DataFrameSizes.Enqueue(payload.Length);
        if (payload.Length > 0)
        {
            _data.Writer.TryWrite(payload);
        }

        if (endStream)
        {
            EndOfStream.TrySetResult();
            _data.Writer.TryComplete();
        }
    }

    internal void OnReset(int errorCode)
    {
        Reset.TrySetResult(errorCode);
        _headers.TrySetException(new StreamResetException(errorCode));
        _data.Writer.TryComplete();
    }

    internal void OnConnectionClosed()
    {
        _headers.TrySetException(new IOException("The connection closed before response headers."));
        _data.Writer.TryComplete();
    }
}

/// <summary>The server reset a stream with <see cref="ErrorCode"/>.</summary>
internal sealed class StreamResetException(int errorCode) : Exception($"stream reset with error code 0x{errorCode:x}")
{
    public int ErrorCode { get; } = errorCode;
}
