using System.Buffers.Binary;

namespace Hbone.Http2.Hpack;

/// <summary>
/// Decoder for the static Huffman code of RFC 7541 Appendix B. The code is canonical (codes of one length
/// are consecutive and ordered by symbol), so the table is rebuilt from the code lengths alone; a lookup on
/// the next 11 bits resolves every code of up to 11 bits (nearly all of ASCII text), longer ones fall back
/// to a canonical range search.
/// </summary>
internal static class Huffman
{
    /// <summary>The end-of-string symbol; an encoder never emits it, so a decoder must reject it.</summary>
    public const int EndOfString = 256;

    private const int MaxCodeLength = 30;
    private const int LookupBits = 11;

    // RFC 7541 Appendix B, code length in bits of symbols 0..256.
    private static ReadOnlySpan<byte> CodeLengths =>
    [
        13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0..15
        28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 16..31
        6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,         // ' '..'/'
        5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,              // '0'..'?'
        13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,                // '@'..'O'
        7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,             // 'P'..'_'
        15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,                // '`'..'o'
        6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,            // 'p'..127
        20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 128..143
        24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 144..159
        22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 160..175
        21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 176..191
        26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 192..207
        19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 208..223
        20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 224..239
        26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 240..255
        30,                                                             // EOS
    ];

    // Code of each symbol, right-aligned (as the "code as hex" column of the RFC).
    private static readonly uint[] s_codes = new uint[257];

    // Lookup on the next LookupBits bits: symbol << 8 | length, or 0 when the code is longer.
    private static readonly ushort[] s_lookup = new ushort[1 << LookupBits];

    // Canonical search for long codes: per length, the first code left-aligned in 32 bits, the end of the
    // range (exclusive, left-aligned; 2^32 for the last length is stored as ulong), and the symbol offset.
    private static readonly ulong[] s_limit = new ulong[MaxCodeLength + 1];
    private static readonly uint[] s_firstCode = new uint[MaxCodeLength + 1];
    private static readonly int[] s_firstSymbolIndex = new int[MaxCodeLength + 1];
    private static readonly ushort[] s_symbolsByCode = new ushort[257];

#pragma warning disable CA1810 // The tables depend on each other; one constructor builds them in order.
    static Huffman()
#pragma warning restore CA1810
    {
        ReadOnlySpan<byte> lengths = CodeLengths;
        int position = 0;
        uint code = 0;
        for (int length = 1; length <= MaxCodeLength; length++)
        {
            s_firstCode[length] = code << (32 - length);
            s_firstSymbolIndex[length] = position;
            for (int symbol = 0; symbol < lengths.Length; symbol++)
            {
                if (lengths[symbol] != length)
                {
                    continue;
                }

                s_codes[symbol] = code;
                s_symbolsByCode[position++] = (ushort)symbol;
                if (length <= LookupBits)
                {
                    int first = (int)(code << (LookupBits - length));
                    int count = 1 << (LookupBits - length);
                    for (int i = 0; i < count; i++)
                    {
                        s_lookup[first + i] = (ushort)((symbol << 8) | length);
                    }
                }

                code++;
            }

            s_limit[length] = (ulong)code << (32 - length);
            code <<= 1;
        }
    }

    /// <summary>The code of <paramref name="symbol"/> (0..256), right-aligned.</summary>
    public static uint GetCode(int symbol) => s_codes[symbol];

    /// <summary>The length in bits of the code of <paramref name="symbol"/> (0..256).</summary>
    public static int GetCodeLength(int symbol) => CodeLengths[symbol];

    /// <summary>The most octets <paramref name="encodedLength"/> octets can decode to (the shortest code has 5 bits).</summary>
    public static int GetDecodedLengthUpperBound(int encodedLength) => (int)((long)encodedLength * 8 / 5);

    /// <summary>Decodes <paramref name="source"/> into <paramref name="destination"/> and returns the decoded length.</summary>
    /// <exception cref="HpackDecodingException">An invalid code, the EOS symbol, padding longer than 7 bits or not all ones.</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too small.</exception>
    public static int Decode(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        int written = TryDecode(source, destination);
        if (written < 0)
        {
            throw new ArgumentException("The destination is too small for the decoded string.", nameof(destination));
        }

        return written;
    }

    /// <summary>As <see cref="Decode"/>, but returns -1 when <paramref name="destination"/> is too small.</summary>
    public static int TryDecode(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        ulong bits = 0; // pending bits, left-aligned
        int bitCount = 0;
        int sourceIndex = 0;
        int written = 0;
        ushort[] lookup = s_lookup;

        while (true)
        {
            // Keep at least 33 bits pending while input remains, so that any code (up to 30 bits) is complete.
            if (bitCount <= 32)
            {
                if (source.Length - sourceIndex >= 4)
                {
                    bits |= (ulong)BinaryPrimitives.ReadUInt32BigEndian(source.Slice(sourceIndex)) << (32 - bitCount);
                    sourceIndex += 4;
                    bitCount += 32;
                }
                else
                {
                    while (bitCount <= 56 && sourceIndex < source.Length)
                    {
                        bits |= (ulong)source[sourceIndex++] << (56 - bitCount);
                        bitCount += 8;
                    }

                    if (bitCount == 0)
                    {
                        return written;
                    }
                }
            }

            uint next = (uint)(bits >> 32);
            int symbol;
            int length;
            int entry = lookup[next >> (32 - LookupBits)];
            if (entry != 0)
            {
                symbol = entry >> 8;
                length = entry & 0xFF;
            }
            else
            {
                length = LookupBits + 1;
                while (next >= s_limit[length])
                {
                    length++;
                }

                symbol = s_symbolsByCode[s_firstSymbolIndex[length] + (int)((next - s_firstCode[length]) >> (32 - length))];
            }

            if (length > bitCount)
            {
                // Input exhausted inside a code: what is left must be padding, at most 7 bits, all ones.
                if (bitCount > 7 || (next >> (32 - bitCount)) != (1u << bitCount) - 1)
                {
                    throw new HpackDecodingException("Invalid Huffman padding.");
                }

                return written;
            }

            if (symbol == EndOfString)
            {
                throw new HpackDecodingException("The Huffman-encoded string contains the EOS symbol.");
            }

            if ((uint)written >= (uint)destination.Length)
            {
                return -1;
            }

            destination[written++] = (byte)symbol;
            bits <<= length;
            bitCount -= length;
        }
    }
}
