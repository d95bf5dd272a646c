namespace Hbone.Http2.Hpack;

/// <summary>
/// The decoder's dynamic table (RFC 7541 §2.3.2, §4). Entry bytes live in one array, appended at the end
/// and compacted to the front when the end is reached, so an insert allocates nothing after the first.
/// </summary>
internal sealed class HpackDynamicTable
{
    /// <summary>Per-entry overhead counted in the table size (RFC 7541 §4.1).</summary>
    public const int EntryOverhead = 32;

    private readonly int _maxCapacity;
    private byte[] _data = [];
    private readonly Entry[] _entries;
    private int _oldest;      // ring index of the oldest entry
    private int _count;
    private int _dataEnd;     // end of the newest entry's bytes in _data
    private int _size;
    private int _capacity;

    public HpackDynamicTable(int maxCapacity)
    {
        _maxCapacity = maxCapacity;
        _capacity = maxCapacity;
        // Every entry counts at least 32 octets, so this many slots always suffice.
        _entries = new Entry[Math.Max(1, maxCapacity / EntryOverhead)];
    }

    /// <summary>Current size in octets: name + value + 32 per entry.</summary>
    public int Size => _size;

    /// <summary>Maximum size, as set by the last dynamic table size update.</summary>
    public int Capacity => _capacity;

    /// <summary>Number of entries.</summary>
    public int Count => _count;

    /// <summary>The entry at dynamic <paramref name="index"/> (1 = newest); the caller checks the range.</summary>
    public void Get(int index, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
    {
        ref readonly Entry entry = ref _entries[(_oldest + _count - index) % _entries.Length];
        name = _data.AsSpan(entry.Offset, entry.NameLength);
        value = _data.AsSpan(entry.Offset + entry.NameLength, entry.ValueLength);
    }

    /// <summary>Sets a new maximum size (at most the limit given at construction) and evicts to fit it.</summary>
    public void SetCapacity(int capacity)
    {
        _capacity = capacity;
        EvictUntil(capacity);
    }

    /// <summary>
    /// Adds an entry, evicting the oldest ones first. An entry larger than the capacity empties the table.
    /// Neither span may point into this table (evictions and compaction would overwrite it).
    /// </summary>
    public void Add(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        int entrySize = name.Length + value.Length + EntryOverhead;
        if (entrySize > _capacity)
        {
            EvictUntil(0);
            return;
        }

        EvictUntil(_capacity - entrySize);
        int length = name.Length + value.Length;
        if (_dataEnd + length > _data.Length)
        {
            MakeRoom(length);
        }

        int offset = _dataEnd;
        name.CopyTo(_data.AsSpan(offset));
        value.CopyTo(_data.AsSpan(offset + name.Length));
        _dataEnd = offset + length;

        _entries[(_oldest + _count) % _entries.Length] = new Entry(offset, name.Length, value.Length);
        _count++;
        _size += entrySize;
    }

    private void EvictUntil(int targetSize)
    {
        while (_size > targetSize)
        {
            ref Entry oldest = ref _entries[_oldest];
            _size -= oldest.NameLength + oldest.ValueLength + EntryOverhead;
            _oldest = (_oldest + 1) % _entries.Length;
            _count--;
        }

        if (_count == 0)
        {
            _oldest = 0;
            _dataEnd = 0;
        }
    }

    private void MakeRoom(int length)
    {
        // Live bytes never exceed the capacity, so twice the largest allowed capacity leaves room to append
        // after compaction, and compaction runs at most once per capacity's worth of inserted bytes.
        if (_data.Length < 2 * _maxCapacity)
        {
            var larger = new byte[2 * _maxCapacity];
            _data.AsSpan(0, _dataEnd).CopyTo(larger);
            _data = larger;
            if (_dataEnd + length <= _data.Length)
            {
                return;
            }
        }

        int start = _entries[_oldest].Offset;
        _data.AsSpan(start, _dataEnd - start).CopyTo(_data);
        for (int i = 0; i < _count; i++)
        {
            _entries[(_oldest + i) % _entries.Length].Offset -= start;
        }

        _dataEnd -= start;
    }

    private struct Entry(int offset, int nameLength, int valueLength)
    {
        public int Offset = offset;
        public readonly int NameLength = nameLength;
        public readonly int ValueLength = valueLength;
    }
}
