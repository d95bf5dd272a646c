using System.Buffers;

namespace Hbone.Http2;

/// <summary>The chain of rented blocks that holds what was received and not consumed yet.</summary>
internal abstract partial class StreamInputBuffer
{
    private void AppendLocked(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            if (_tail is null || _tail.Free == 0)
            {
                var segment = RentSegmentLocked(data.Length);
                if (_tail is null)
                {
                    _head = _tail = segment;
                    _headIndex = 0;
                }
                else
                {
                    _tail.Link(segment);
                    _tail = segment;
                }
            }

            data = data[_tail.Append(data)..];
        }
    }

    private long ConsumeLocked(SequencePosition consumed)
    {
        if (_head is null)
        {
            return 0;
        }

        var target = consumed.GetObject() as Segment ?? _head;
        var index = consumed.GetInteger();
        var count = target.RunningIndex + index - (_head.RunningIndex + _headIndex);
        if (count <= 0)
        {
            return 0;
        }

        while (_head != target)
        {
            var next = (Segment)_head!.Next!;
            ReturnSegmentLocked(_head);
            _head = next;
        }

        _headIndex = index;
        _length -= count;
        if (_length == 0)
        {
            // Empty: the last block goes back too, so an idle stream holds no array.
            ReturnSegmentLocked(_head);
            _head = _tail = null;
            _headIndex = 0;
        }

        return count;
    }

    private void ReleaseAllLocked()
    {
        while (_head is not null)
        {
            var next = (Segment?)_head.Next;
            ReturnSegmentLocked(_head);
            _head = next;
        }

        _tail = null;
        _headIndex = 0;
        _length = 0;
    }

    private Segment RentSegmentLocked(int wanted)
    {
        var segment = _spare;
        if (segment is not null)
        {
            _spare = (Segment?)segment.Next;
            _spareCount--;
        }
        else
        {
            segment = new Segment();
        }

        segment.Rent(Math.Max(wanted, MinimumBlockSize), _tail is null ? 0 : _tail.RunningIndex + _tail.Used);
        return segment;
    }

    private void ReturnSegmentLocked(Segment segment)
    {
        segment.Release();
        if (_spareCount < SpareSegments)
        {
            segment.Link(_spare);
            _spare = segment;
            _spareCount++;
        }
    }

    /// <summary>One rented block in the chain; <see cref="Used"/> bytes of it hold data.</summary>
    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        private byte[] _block = [];

        public int Used { get; private set; }

        public int Free => _block.Length - Used;

        public void Rent(int size, long runningIndex)
        {
            _block = ArrayPool<byte>.Shared.Rent(size);
            Used = 0;
            RunningIndex = runningIndex;
            Memory = ReadOnlyMemory<byte>.Empty;
            Next = null;
        }

        public int Append(ReadOnlySpan<byte> data)
        {
            var count = Math.Min(data.Length, Free);
            data[..count].CopyTo(_block.AsSpan(Used));
            Used += count;
            Memory = _block.AsMemory(0, Used);
            return count;
        }

        public void Link(Segment? next) => Next = next;

        public void Release()
        {
            if (_block.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(_block);
            }

            _block = [];
            Used = 0;
            Memory = ReadOnlyMemory<byte>.Empty;
            Next = null;
        }
    }
}
