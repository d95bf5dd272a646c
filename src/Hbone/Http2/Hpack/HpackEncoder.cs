using System.Buffers;
using System.Text;

namespace Hbone.Http2.Hpack;

/// <summary>
/// Stateless HPACK encoder for request headers: Literal Header Field without Indexing (RFC 7541 §6.2.2),
/// with the static table's index for the name when it has one, and raw (never Huffman) strings: a CONNECT
/// carries few, mostly unique headers, where a dynamic table and Huffman would cost more than they save.
/// </summary>
internal static class HpackEncoder
{
    /// <summary>
    /// Encodes a header field; an unknown name is written lowercased. Returns false if
    /// <paramref name="destination"/> is too small.
    /// </summary>
    /// <exception cref="ArgumentException">The name is empty, or the name or value is not ASCII.</exception>
    public static bool TryEncodeHeader(ReadOnlySpan<char> name, ReadOnlySpan<char> value, Span<byte> destination, out int written)
    {
        int staticIndex = GetStaticNameIndex(name);
        if (staticIndex != 0)
        {
            return TryEncodeHeader(staticIndex, value, destination, out written);
        }

        if (name.IsEmpty)
        {
            throw new ArgumentException("A header name cannot be empty.", nameof(name));
        }

        written = 0;
        if (destination.IsEmpty)
        {
            return false;
        }

        destination[0] = 0x00; // without indexing, literal name
        if (!TryEncodeString(name, lowercase: true, destination.Slice(1), out int nameLength)
            || !TryEncodeString(value, lowercase: false, destination.Slice(1 + nameLength), out int valueLength))
        {
            return false;
        }

        written = 1 + nameLength + valueLength;
        return true;
    }

    /// <summary>
    /// Encodes a header field whose name is entry <paramref name="staticNameIndex"/> (1..61) of the static
    /// table. Returns false if <paramref name="destination"/> is too small.
    /// </summary>
    public static bool TryEncodeHeader(int staticNameIndex, ReadOnlySpan<char> value, Span<byte> destination, out int written)
    {
        ValidateStaticIndex(staticNameIndex);
        if (!TryEncodeInteger(staticNameIndex, 4, 0x00, destination, out int nameLength)
            || !TryEncodeString(value, lowercase: false, destination.Slice(nameLength), out int valueLength))
        {
            written = 0;
            return false;
        }

        written = nameLength + valueLength;
        return true;
    }

    /// <summary>Encodes an Indexed Header Field (§6.1) for static entry <paramref name="staticIndex"/> (1..61).</summary>
    public static bool TryEncodeIndexed(int staticIndex, Span<byte> destination, out int written)
    {
        ValidateStaticIndex(staticIndex);
        return TryEncodeInteger(staticIndex, 7, 0x80, destination, out written);
    }

    /// <summary>The first static table index with this name, or 0 if there is none.</summary>
    public static int GetStaticNameIndex(ReadOnlySpan<char> lowercaseName) => lowercaseName switch
    {
        ":authority" => 1,
        ":method" => 2,
        ":path" => 4,
        ":scheme" => 6,
        ":status" => 8,
        "accept-charset" => 15,
        "accept-encoding" => 16,
        "accept-language" => 17,
        "accept-ranges" => 18,
        "accept" => 19,
        "access-control-allow-origin" => 20,
        "age" => 21,
        "allow" => 22,
        "authorization" => 23,
        "cache-control" => 24,
        "content-disposition" => 25,
        "content-encoding" => 26,
        "content-language" => 27,
        "content-length" => 28,
        "content-location" => 29,
        "content-range" => 30,
        "content-type" => 31,
        "cookie" => 32,
        "date" => 33,
        "etag" => 34,
        "expect" => 35,
        "expires" => 36,
        "from" => 37,
        "host" => 38,
        "if-match" => 39,
        "if-modified-since" => 40,
        "if-none-match" => 41,
        "if-range" => 42,
        "if-unmodified-since" => 43,
        "last-modified" => 44,
        "link" => 45,
        "location" => 46,
        "max-forwards" => 47,
        "proxy-authenticate" => 48,
        "proxy-authorization" => 49,
        "range" => 50,
        "referer" => 51,
        "refresh" => 52,
        "retry-after" => 53,
        "server" => 54,
        "set-cookie" => 55,
        "strict-transport-security" => 56,
        "transfer-encoding" => 57,
        "user-agent" => 58,
        "vary" => 59,
        "via" => 60,
        "www-authenticate" => 61,
        _ => 0,
    };

    /// <summary>
    /// Encodes <paramref name="value"/> as an integer with a <paramref name="prefixBits"/>-bit prefix (§5.1),
    /// OR-ing <paramref name="firstByteFlags"/> into the first octet. Returns false if the destination is too small.
    /// </summary>
    public static bool TryEncodeInteger(int value, int prefixBits, byte firstByteFlags, Span<byte> destination, out int written)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        ArgumentOutOfRangeException.ThrowIfLessThan(prefixBits, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(prefixBits, 8);
        written = 0;
        if (destination.IsEmpty)
        {
            return false;
        }

        int mask = (1 << prefixBits) - 1;
        if (value < mask)
        {
            destination[0] = (byte)(firstByteFlags | value);
            written = 1;
            return true;
        }

        destination[0] = (byte)(firstByteFlags | mask);
        value -= mask;
        int index = 1;
        while (value >= 0x80)
        {
            if (index >= destination.Length)
            {
                return false;
            }

            destination[index++] = (byte)((value & 0x7F) | 0x80);
            value >>= 7;
        }

        if (index >= destination.Length)
        {
            return false;
        }

        destination[index++] = (byte)value;
        written = index;
        return true;
    }

    private static bool TryEncodeString(ReadOnlySpan<char> text, bool lowercase, Span<byte> destination, out int written)
    {
        written = 0;
        if (!TryEncodeInteger(text.Length, 7, 0x00, destination, out int lengthLength)
            || destination.Length - lengthLength < text.Length)
        {
            return false;
        }

        Span<byte> target = destination.Slice(lengthLength, text.Length);
        OperationStatus status = lowercase
            ? Ascii.ToLower(text, target, out _)
            : Ascii.FromUtf16(text, target, out _);
        if (status != OperationStatus.Done)
        {
            throw new ArgumentException("Header names and values must be ASCII.", nameof(text));
        }

        written = lengthLength + text.Length;
        return true;
    }

    private static void ValidateStaticIndex(int index)
    {
        if ((uint)(index - 1) >= HpackStaticTable.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, "A static table index is between 1 and 61.");
        }
    }
}
