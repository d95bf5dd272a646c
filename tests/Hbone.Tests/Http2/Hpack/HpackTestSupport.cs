using System.Text;
using Hbone.Http2.Hpack;

namespace Hbone.Tests.Http2.Hpack;

/// <summary>Collects decoded fields as text.</summary>
internal sealed class RecordingHeaderHandler : IHpackHeaderHandler
{
    public List<(string Name, string Value)> Headers { get; } = [];

    public void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) =>
        Headers.Add((Encoding.Latin1.GetString(name), Encoding.Latin1.GetString(value)));
}

/// <summary>Counts fields without keeping them.</summary>
internal sealed class CountingHeaderHandler : IHpackHeaderHandler
{
    public int Count { get; private set; }

    public long Octets { get; private set; }

    public void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        Count++;
        Octets += name.Length + value.Length;
    }
}

internal static class HpackTestSupport
{
    /// <summary>Hex with optional spaces, as the RFC prints it.</summary>
    public static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));

    public static List<(string Name, string Value)> Decode(HpackDecoder decoder, byte[] block)
    {
        var handler = new RecordingHeaderHandler();
        decoder.Decode(block, handler);
        return handler.Headers;
    }

    public static List<(string Name, string Value)> DynamicTable(HpackDecoder decoder)
    {
        var entries = new List<(string, string)>();
        for (int i = 1; i <= decoder.DynamicTableCount; i++)
        {
            decoder.GetDynamicTableEntry(i, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value);
            entries.Add((Encoding.Latin1.GetString(name), Encoding.Latin1.GetString(value)));
        }

        return entries;
    }

    /// <summary>A test-only Huffman encoder built from the decoder's code table.</summary>
    public static byte[] HuffmanEncode(ReadOnlySpan<byte> input)
    {
        var output = new List<byte>();
        ulong bits = 0;
        int count = 0;
        foreach (byte b in input)
        {
            bits = (bits << Huffman.GetCodeLength(b)) | Huffman.GetCode(b);
            count += Huffman.GetCodeLength(b);
            while (count >= 8)
            {
                output.Add((byte)(bits >> (count - 8)));
                count -= 8;
            }
        }

        if (count > 0)
        {
            // Pad with the most significant bits of EOS (all ones).
            output.Add((byte)((bits << (8 - count)) | (0xFFu >> count)));
        }

        return [.. output];
    }

    /// <summary>A string literal (§5.2) with the H bit set.</summary>
    public static byte[] HuffmanLiteral(string text)
    {
        byte[] encoded = HuffmanEncode(Encoding.ASCII.GetBytes(text));
        var literal = new byte[8 + encoded.Length];
        Assert.True(HpackEncoder.TryEncodeInteger(encoded.Length, 7, 0x80, literal, out int n));
        encoded.CopyTo(literal, n);
        return literal[..(n + encoded.Length)];
    }

    /// <summary>A raw string literal (§5.2).</summary>
    public static byte[] RawLiteral(string text)
    {
        var literal = new byte[8 + text.Length];
        Assert.True(HpackEncoder.TryEncodeInteger(text.Length, 7, 0x00, literal, out int n));
        Encoding.ASCII.GetBytes(text).CopyTo(literal, n);
        return literal[..(n + text.Length)];
    }

    public static byte[] Concat(params byte[][] parts)
    {
        var all = new List<byte>();
        foreach (byte[] part in parts)
        {
            all.AddRange(part);
        }

        return [.. all];
    }
}
