using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Hbone.Protocol;

/// <summary>Percent-encoding of W3C baggage values (UTF-8 bytes outside baggage-octet become <c>%XX</c>).</summary>
internal static class BaggageEncoding
{
    /// <summary>True for baggage-octet: visible ASCII except <c>"</c>, <c>,</c>, <c>;</c>, <c>\</c>.</summary>
    public static bool IsValueChar(char c) => c is >= '!' and <= '~' and not ('"' or ',' or ';' or '\\');

    /// <summary>Decodes <c>%XX</c> escapes as UTF-8; false for a truncated escape, non-hex digits or invalid UTF-8.</summary>
    public static bool TryDecode(ReadOnlySpan<char> text, out string? decoded)
    {
        decoded = null;
        int percent = text.IndexOf('%');
        if (percent < 0)
        {
            decoded = text.ToString();
            return true;
        }
        byte[]? rented = null;
        Span<byte> bytes = text.Length <= 256 ? stackalloc byte[text.Length] : (rented = ArrayPool<byte>.Shared.Rent(text.Length));
        try
        {
            int length = 0;
            for (int i = 0; i < text.Length; i++)
            {
                char c = text[i];
                if (c != '%')
                {
                    bytes[length++] = (byte)c;
                    continue;
                }
                if (i + 2 >= text.Length || !char.IsAsciiHexDigit(text[i + 1]) || !char.IsAsciiHexDigit(text[i + 2]))
                {
                    return false;
                }
                bytes[length++] = (byte)((HexValue(text[i + 1]) << 4) | HexValue(text[i + 2]));
                i += 2;
            }
            ReadOnlySpan<byte> utf8 = bytes[..length];
            if (!Utf8.IsValid(utf8))
            {
                return false;
            }
            decoded = Encoding.UTF8.GetString(utf8);
            return true;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Appends <paramref name="value"/> with every byte outside baggage-octet (and <c>%</c> itself) percent-encoded.</summary>
    /// <exception cref="ArgumentException"><paramref name="value"/> holds a lone surrogate, which has no UTF-8 form.</exception>
    public static void AppendEncoded(StringBuilder text, string value)
    {
        Span<byte> utf8 = stackalloc byte[4];
        ReadOnlySpan<char> rest = value;
        while (!rest.IsEmpty)
        {
            char c = rest[0];
            if (c != '%' && IsValueChar(c))
            {
                text.Append(c);
                rest = rest[1..];
                continue;
            }
            if (Rune.DecodeFromUtf16(rest, out Rune rune, out int consumed) != OperationStatus.Done)
            {
                throw new ArgumentException("A baggage value must be valid UTF-16.", nameof(value));
            }
            int length = rune.EncodeToUtf8(utf8);
            foreach (byte b in utf8[..length])
            {
                text.Append('%').Append(HexUpper[b >> 4]).Append(HexUpper[b & 0xf]);
            }
            rest = rest[consumed..];
        }
    }

    private const string HexUpper = "0123456789ABCDEF";

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
