using System.Buffers;

namespace Hbone.Http2;

/// <summary>A growable byte buffer rented from the array pool; frames are appended here and written in one call.</summary>
internal sealed class WriteBuffer : IDisposable
{
    private const int InitialSize = 16 * 1024;
    private const int RetainedMaxSize = 1024 * 1024 + 64 * 1024;

    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(InitialSize);

    public int Length { get; private set; }

    public ReadOnlyMemory<byte> Written => _buffer.AsMemory(0, Length);

    public Span<byte> GetSpan(int size)
    {
        if (_buffer.Length - Length < size)
        {
            Grow(size);
        }

        return _buffer.AsSpan(Length, size);
    }

    public void Advance(int count) => Length += count;

    public void Write(ReadOnlySpan<byte> data)
    {
        data.CopyTo(GetSpan(data.Length));
        Length += data.Length;
    }

    /// <summary>Empties the buffer; a buffer grown far past one frame goes back to the pool.</summary>
    public void Reset()
    {
        Length = 0;
        if (_buffer.Length > RetainedMaxSize)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = ArrayPool<byte>.Shared.Rent(InitialSize);
        }
    }

    private void Grow(int size)
    {
        var next = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, Length + size));
        _buffer.AsSpan(0, Length).CopyTo(next);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = next;
    }

    public void Dispose()
    {
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
        Length = 0;
    }
}
