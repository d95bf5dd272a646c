using System.Text;

namespace Hbone.Kestrel.Tests.Infrastructure;

/// <summary>
/// Test-only HPACK: a literal-only encoder (never indexed, no Huffman) and a decoder of static, dynamic and
/// literal fields. Lets tests send any header list, including ones a conforming client would refuse to send.
/// </summary>
internal static class Hpack
{
    private static readonly (string Name, string Value)[] s_static =
    [
        (":authority", ""), (":method", "GET"), (":method", "POST"), (":path", "/"), (":path", "/index.html"),
        (":scheme", "http"), (":scheme", "https"), (":status", "200"), (":status", "204"), (":status", "206"),
        (":status", "304"), (":status", "400"), (":status", "404"), (":status", "500"), ("accept-charset", ""),
        ("accept-encoding", "gzip, deflate"), ("accept-language", ""), ("accept-ranges", ""), ("accept", ""),
        ("access-control-allow-origin", ""), ("age", ""), ("allow", ""), ("authorization", ""), ("cache-control", ""),
        ("content-disposition", ""), ("content-encoding", ""), ("content-language", ""), ("content-length", ""),
        ("content-location", ""), ("content-range", ""), ("content-type", ""), ("cookie", ""), ("date", ""), ("etag", ""),
        ("expect", ""), ("expires", ""), ("from", ""), ("host", ""), ("if-match", ""), ("if-modified-since", ""),
        ("if-none-match", ""), ("if-range", ""), ("if-unmodified-since", ""), ("last-modified", ""), ("link", ""),
        ("location", ""), ("max-forwards", ""), ("proxy-authenticate", ""), ("proxy-authorization", ""), ("range", ""),
        ("referer", ""), ("refresh", ""), ("retry-after", ""), ("server", ""), ("set-cookie", ""),
        ("strict-transport-security", ""), ("transfer-encoding", ""), ("user-agent", ""), ("vary", ""), ("via", ""),
        ("www-authenticate", ""),
    ];

    public static byte[] Encode(IEnumerable<(string Name, string Value)> headers)
    {
        var output = new List<byte>();
        foreach (var (name, value) in headers)
        {
            output.Add(0x10); // literal never indexed, new name
            WriteString(output, name);
            WriteString(output, value);
        }

        return output.ToArray();
    }

    private static void WriteString(List<byte> output, string value)
    {
        var bytes = Encoding.Latin1.GetBytes(value);
        WriteInteger(output, 0x00, 7, bytes.Length);
        output.AddRange(bytes);
    }

    private static void WriteInteger(List<byte> output, byte prefix, int bits, int value)
    {
        var max = (1 << bits) - 1;
        if (value < max)
        {
            output.Add((byte)(prefix | value));
            return;
        }

        output.Add((byte)(prefix | max));
        value -= max;
        while (value >= 128)
        {
            output.Add((byte)((value % 128) + 128));
            value /= 128;
        }

        output.Add((byte)value);
    }

    /// <summary>Decoder state of one connection (the dynamic table).</summary>
    internal sealed class Decoder
    {
        private readonly List<(string Name, string Value)> _dynamic = [];

        public List<(string Name, string Value)> Decode(ReadOnlySpan<byte> block)
        {
            var result = new List<(string, string)>();
            var i = 0;
            while (i < block.Length)
            {
                var b = block[i];
                if ((b & 0x80) != 0)
                {
                    result.Add(Lookup(ReadInteger(block, ref i, 7)));
                }
                else if ((b & 0x40) != 0)
                {
                    var field = ReadLiteral(block, ref i, 6);
                    _dynamic.Insert(0, field);
                    result.Add(field);
                }
                else if ((b & 0x20) != 0)
                {
                    ReadInteger(block, ref i, 5);
                }
                else
                {
                    result.Add(ReadLiteral(block, ref i, 4));
                }
            }

            return result;
        }

        private (string, string) ReadLiteral(ReadOnlySpan<byte> block, ref int i, int bits)
        {
            var index = ReadInteger(block, ref i, bits);
            var name = index == 0 ? ReadString(block, ref i) : Lookup(index).Name;
            return (name, ReadString(block, ref i));
        }

        private (string Name, string Value) Lookup(int index) =>
            index <= s_static.Length ? s_static[index - 1] : _dynamic[index - s_static.Length - 1];

        private static string ReadString(ReadOnlySpan<byte> block, ref int i)
        {
            if ((block[i] & 0x80) != 0)
            {
                throw new NotSupportedException("The test decoder does not decode Huffman strings.");
            }

            var length = ReadInteger(block, ref i, 7);
            var value = Encoding.Latin1.GetString(block.Slice(i, length));
            i += length;
            return value;
        }

        private static int ReadInteger(ReadOnlySpan<byte> block, ref int i, int bits)
        {
            var max = (1 << bits) - 1;
            var value = block[i++] & max;
            if (value < max)
            {
                return value;
            }

            var shift = 0;
            byte b;
            do
            {
                b = block[i++];
                value += (b & 0x7f) << shift;
                shift += 7;
            }
            while ((b & 0x80) != 0);
            return value;
        }
    }
}
