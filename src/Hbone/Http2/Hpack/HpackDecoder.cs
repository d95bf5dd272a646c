using System.Buffers;

namespace Hbone.Http2.Hpack;

/// <summary>
/// Decodes HPACK header blocks (RFC 7541). One instance per connection: the dynamic table carries over
/// from block to block. Not thread-safe; blocks are decoded in the order they arrive.
/// </summary>
internal sealed class HpackDecoder
{
    // Integers above 2^31 - 1 are rejected; five continuation octets carry 35 bits, enough for that.
    private const int MaxIntegerContinuationOctets = 5;

    private readonly int _maxDynamicTableSize;
    private readonly int _maxHeaderListSize;
    private readonly HpackDynamicTable _dynamicTable;

    // Holds Huffman-decoded strings and a copy of a dynamic-table name about to be re-inserted.
    // Raw literals are not copied: they are slices of the block.
    private byte[] _buffer;

    public HpackDecoder(int maxDynamicTableSize = 4096, int maxHeaderListSize = 16 * 1024)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxDynamicTableSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxHeaderListSize);
        _maxDynamicTableSize = maxDynamicTableSize;
        _maxHeaderListSize = maxHeaderListSize;
        _dynamicTable = new HpackDynamicTable(maxDynamicTableSize);
        _buffer = ArrayPool<byte>.Shared.Rent(Math.Min(4096, maxHeaderListSize));
    }

    /// <summary>Current dynamic table size in octets (name + value + 32 per entry).</summary>
    public int DynamicTableSize => _dynamicTable.Size;

    /// <summary>Maximum dynamic table size currently in force (the last size update, or the setting).</summary>
    public int DynamicTableCapacity => _dynamicTable.Capacity;

    /// <summary>Number of entries in the dynamic table.</summary>
    public int DynamicTableCount => _dynamicTable.Count;

    /// <summary>Entry <paramref name="index"/> of the dynamic table (1 = newest); for tests and diagnostics.</summary>
    public void GetDynamicTableEntry(int index, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(index, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(index, _dynamicTable.Count);
        _dynamicTable.Get(index, out name, out value);
    }

    /// <summary>Decodes one complete header block (HEADERS and its CONTINUATIONs, concatenated).</summary>
    /// <exception cref="HpackDecodingException">The block is malformed (answer COMPRESSION_ERROR).</exception>
    /// <exception cref="HpackHeaderListTooLargeException">
    /// The decoded header list exceeds the limit; the dynamic table is then unusable (close the connection).
    /// </exception>
    public void Decode(ReadOnlySpan<byte> block, IHpackHeaderHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        DecodeCore(block, handler, _maxHeaderListSize, discardOverLimit: false);
    }

    /// <summary>
    /// Decodes one complete header block, keeping the dynamic table in step with the peer even when the decoded
    /// list exceeds <paramref name="maxHeaderListSize"/>: from that field on, no field reaches the handler.
    /// </summary>
    /// <returns>False when the list exceeded the limit (answer 431; the connection stays usable).</returns>
    /// <exception cref="HpackDecodingException">The block is malformed (answer COMPRESSION_ERROR).</exception>
    public bool DecodeBounded(ReadOnlySpan<byte> block, IHpackHeaderHandler handler, int maxHeaderListSize)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxHeaderListSize);
        return DecodeCore(block, handler, maxHeaderListSize, discardOverLimit: true);
    }

    // With discardOverLimit, an over-limit list stops feeding the handler instead of throwing; strings are then
    // decoded whole (bounded by the block's length) so that indexed entries still match the peer's table.
    private bool DecodeCore(ReadOnlySpan<byte> block, IHpackHeaderHandler handler, int limit, bool discardOverLimit)
    {
        int position = 0;
        int listSize = 0;
        bool fieldSeen = false;
        bool exceeded = false;

        while (position < block.Length)
        {
            byte first = block[position];
            ReadOnlySpan<byte> name;
            ReadOnlySpan<byte> value;

            if ((first & 0x80) != 0)
            {
                // Indexed Header Field (§6.1).
                int index = ReadInteger(block, ref position, 7);
                GetEntry(index, out name, out value);
                listSize = Account(listSize, name.Length, value.Length, limit, discardOverLimit, ref exceeded);
                fieldSeen = true;
                if (!exceeded)
                {
                    handler.OnHeader(name, value);
                }

                continue;
            }

            if ((first & 0xE0) == 0x20)
            {
                // Dynamic Table Size Update (§6.3): only before the first field of a block (§4.2).
                if (fieldSeen)
                {
                    throw new HpackDecodingException("A dynamic table size update follows a header field.");
                }

                int size = ReadInteger(block, ref position, 5);
                if (size > _maxDynamicTableSize)
                {
                    throw new HpackDecodingException("A dynamic table size update exceeds SETTINGS_HEADER_TABLE_SIZE.");
                }

                _dynamicTable.SetCapacity(size);
                continue;
            }

            // Literal Header Field with Incremental Indexing (01, §6.2.1), without Indexing (0000, §6.2.2)
            // or Never Indexed (0001, §6.2.3).
            bool addToTable = (first & 0x40) != 0;
            int nameIndex = ReadInteger(block, ref position, addToTable ? 6 : 4);
            int bufferUsed = 0;
            bool nameInBuffer = false;
            if (nameIndex == 0)
            {
                name = ReadString(block, ref position, 0, Budget(limit, listSize, 0, discardOverLimit), out nameInBuffer);
                bufferUsed = nameInBuffer ? name.Length : 0;
            }
            else
            {
                GetEntry(nameIndex, out name, out _);
                if (addToTable && nameIndex > HpackStaticTable.Count)
                {
                    // Inserting may evict the entry the name lives in; keep a copy.
                    EnsureBuffer(0, name.Length);
                    name.CopyTo(_buffer);
                    nameInBuffer = true;
                    bufferUsed = name.Length;
                }
            }

            int nameLength = name.Length;
            value = ReadString(block, ref position, bufferUsed, Budget(limit, listSize, nameLength, discardOverLimit), out _);
            if (nameInBuffer)
            {
                // Reading the value may have replaced the buffer.
                name = _buffer.AsSpan(0, nameLength);
            }

            listSize = Account(listSize, nameLength, value.Length, limit, discardOverLimit, ref exceeded);
            fieldSeen = true;
            if (!exceeded)
            {
                handler.OnHeader(name, value);
            }

            if (addToTable)
            {
                _dynamicTable.Add(name, value);
            }
        }

        return !exceeded;
    }

    private static int Budget(int limit, int listSize, int nameLength, bool discardOverLimit) =>
        discardOverLimit ? int.MaxValue - 1 : limit - listSize - HpackDynamicTable.EntryOverhead - nameLength;

    private static int Account(int listSize, int nameLength, int valueLength, int limit, bool discardOverLimit, ref bool exceeded)
    {
        // RFC 9113 §6.5.2; checked before the handler sees the field, so a bomb stops at the limit.
        long total = (long)listSize + nameLength + valueLength + HpackDynamicTable.EntryOverhead;
        if (total > limit)
        {
            if (!discardOverLimit)
            {
                throw new HpackHeaderListTooLargeException($"The header list exceeds {limit} octets.");
            }

            // Capped so that a long block of indexed fields cannot overflow the count.
            exceeded = true;
            return limit + 1;
        }

        return (int)total;
    }

    private void GetEntry(int index, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
    {
        if (index >= 1 && index <= HpackStaticTable.Count)
        {
            name = HpackStaticTable.GetName(index);
            value = HpackStaticTable.GetValue(index);
            return;
        }

        int dynamicIndex = index - HpackStaticTable.Count;
        if (index == 0 || dynamicIndex > _dynamicTable.Count)
        {
            throw new HpackDecodingException($"Header index {index} is out of range.");
        }

        _dynamicTable.Get(dynamicIndex, out name, out value);
    }

    // Reads a string literal (§5.2). A raw string is a slice of the block; a Huffman string is decoded into
    // the buffer at bufferOffset. budget is what the header list can still take; a longer string throws.
    private ReadOnlySpan<byte> ReadString(ReadOnlySpan<byte> block, scoped ref int position, int bufferOffset, int budget, out bool inBuffer)
    {
        if (position >= block.Length)
        {
            throw new HpackDecodingException("The header block ends before a string literal.");
        }

        bool huffman = (block[position] & 0x80) != 0;
        int length = ReadInteger(block, ref position, 7);
        if (length > block.Length - position)
        {
            throw new HpackDecodingException("A string literal runs past the end of the header block.");
        }

        ReadOnlySpan<byte> encoded = block.Slice(position, length);
        position += length;
        if (!huffman)
        {
            if (length > budget)
            {
                throw new HpackHeaderListTooLargeException($"The header list exceeds {_maxHeaderListSize} octets.");
            }

            inBuffer = false;
            return encoded;
        }

        // Decode into at most budget + 1 octets: one more than allowed proves the list is too large.
        int room = Math.Min(Huffman.GetDecodedLengthUpperBound(length), Math.Max(budget, 0) + 1);
        EnsureBuffer(bufferOffset, room);
        int decoded = Huffman.TryDecode(encoded, _buffer.AsSpan(bufferOffset, room));
        if (decoded < 0 || decoded > budget)
        {
            throw new HpackHeaderListTooLargeException($"The header list exceeds {_maxHeaderListSize} octets.");
        }

        inBuffer = true;
        return _buffer.AsSpan(bufferOffset, decoded);
    }

    private void EnsureBuffer(int keep, int additional)
    {
        int required = keep + additional;
        if (required <= _buffer.Length)
        {
            return;
        }

        byte[] larger = ArrayPool<byte>.Shared.Rent(required);
        _buffer.AsSpan(0, keep).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = larger;
    }

    // Reads an integer with an N-bit prefix (§5.1) starting at block[position].
    private static int ReadInteger(ReadOnlySpan<byte> block, ref int position, int prefixBits)
    {
        int mask = (1 << prefixBits) - 1;
        int value = block[position++] & mask;
        if (value < mask)
        {
            return value;
        }

        long result = value;
        for (int i = 0; i < MaxIntegerContinuationOctets; i++)
        {
            if (position >= block.Length)
            {
                throw new HpackDecodingException("The header block ends inside an integer.");
            }

            byte octet = block[position++];
            result += (long)(octet & 0x7F) << (7 * i);
            if (result > int.MaxValue)
            {
                throw new HpackDecodingException("An integer exceeds 2^31 - 1.");
            }

            if ((octet & 0x80) == 0)
            {
                return (int)result;
            }
        }

        throw new HpackDecodingException("An integer has too many continuation octets.");
    }
}
