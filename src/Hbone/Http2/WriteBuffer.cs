using System.Buffers;

namespace Hbone.Http2;

/// <summary>
/// A growable byte buffer rented from the array pool; frames are appended here and written in one call. It holds an
/// array only while it has content: an idle connection keeps no write buffers (three per client connection).
/// </summary>
internal sealed class WriteBuffer : IDisposable
{
    private const int InitialSize = 16 * 1024;
    private const int RetainedMaxSize = 1024 * 1024 + 64 * 1024;

    private byte[] _buffer = [];

    // The size the last content needed: bulk writes rent it at once again instead of growing (and copying) each time.
    private int _sizeHint = InitialSize;

    public int Length { get; private set; }

    /// <summary>The size of the array held now; 0 while empty.</summary>
    public int Capacity => _buffer.Length;

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

    /// <summary>Empties the buffer and gives its array back to the pool.</summary>
    public void Reset()
    {
        Length = 0;
        if (_buffer.Length > 0)
        {
            _sizeHint = Math.Min(_buffer.Length, RetainedMaxSize);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
    }

    private void Grow(int size)
    {
        var next = ArrayPool<byte>.Shared.Rent(Math.Max(Math.Max(_buffer.Length * 2, _sizeHint), Length + size));
        if (_buffer.Length > 0)
        {
            _buffer.AsSpan(0, Length).CopyTo(next);
            ArrayPool<byte>.Shared.Return(_buffer);
        }

        _buffer = next;
    }

    public void Dispose()
    {
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }

        _buffer = [];
        Length = 0;
    }
}
