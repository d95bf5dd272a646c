using Microsoft.AspNetCore.Http;

namespace Hbone.Kestrel;

/// <summary>The tunnel as a duplex <see cref="System.IO.Stream"/>: reads the request body, writes the response body.</summary>
internal sealed class HboneTunnelStream : Stream
{
    private readonly HboneTunnel _tunnel;
    private readonly HttpContext _httpContext;
    private int _disposed;

    public HboneTunnelStream(HboneTunnel tunnel, HttpContext httpContext)
    {
        _tunnel = tunnel;
        _httpContext = httpContext;
    }

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await _httpContext.Request.Body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        _tunnel.AddBytesFromPeer(read);
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await _httpContext.Response.Body.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        _tunnel.AddBytesToPeer(buffer.Length);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    public override Task FlushAsync(CancellationToken cancellationToken) => _httpContext.Response.Body.FlushAsync(cancellationToken);

    public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await _tunnel.CompleteWritesAsync().ConfigureAwait(false);
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _tunnel.CompleteWritesAsync().GetAwaiter().GetResult();
        }

        base.Dispose(disposing);
    }
}
