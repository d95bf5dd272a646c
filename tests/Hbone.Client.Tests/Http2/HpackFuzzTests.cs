using Hbone.Http2.Hpack;
using Xunit.Abstractions;

namespace Hbone.Client.Tests.Http2;

/// <summary>FZ-01: the response HPACK decoder fed seeded mutations of valid blocks (Huffman, dynamic table, size updates).</summary>
public sealed class HpackFuzzTests(ITestOutputHelper output)
{
    private const int Iterations = 20_000;

    [Fact]
    [Trait("case", "FZ-01")]
    [Trait("case", "H2-07")]
    public void FZ01_mutated_header_blocks_decode_or_fail_only_with_HPACK_errors()
    {
        var random = new Random(9113);
        var seeds = SeedBlocks();
        var decoder = new HpackDecoder(maxHeaderListSize: 16 * 1024);
        var sink = new Sink();
        var check = new HpackDecoder(maxHeaderListSize: 16 * 1024);
        foreach (var seed in seeds)
        {
            check.Decode(seed, sink); // in order, the seeds are valid: each reference names an entry made before it
        }

        Assert.Equal(0, check.DynamicTableSize);

        int decoded = 0, rejected = 0;
        for (var i = 0; i < Iterations; i++)
        {
            var block = Mutate(random, seeds[random.Next(seeds.Length)]);
            try
            {
                decoder.Decode(block, sink);
                decoded++;
            }
            catch (Exception ex) when (ex is HpackDecodingException or HpackHeaderListTooLargeException)
            {
                // A connection error ends the connection, and its decoder with it.
                decoder = new HpackDecoder(maxHeaderListSize: 16 * 1024);
                rejected++;
            }
            catch (Exception ex)
            {
                throw new Xunit.Sdk.XunitException($"iteration {i}: {ex.GetType()} for block {Convert.ToHexString(block)}: {ex}");
            }

            Assert.InRange(decoder.DynamicTableSize, 0, 4096);
        }

        output.WriteLine($"decoded {decoded}, rejected {rejected}, fields {sink.Count}");
        Assert.True(decoded > Iterations / 20, "almost nothing decoded: the seeds or mutations are broken");
        Assert.True(rejected > Iterations / 20, "almost nothing rejected: the mutations do nothing");
    }

    private static byte[] Mutate(Random random, byte[] seed)
    {
        var block = new List<byte>(seed);
        var count = random.Next(0, 4);
        for (var m = 0; m < count && block.Count > 0; m++)
        {
            var at = random.Next(block.Count);
            switch (random.Next(6))
            {
                case 0:
                    block[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 1:
                    block[at] = (byte)random.Next(256);
                    break;
                case 2:
                    block.RemoveRange(at, block.Count - at);
                    break;
                case 3:
                    block.Insert(at, (byte)random.Next(256));
                    break;
                case 4: // an oversized integer continuation
                    block.InsertRange(at, [0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
                    break;
                default: // repeat a piece: more references to the same entries
                    var length = random.Next(1, block.Count - at + 1);
                    block.InsertRange(at, block.GetRange(at, length));
                    break;
            }
        }

        return [.. block];
    }

    private static byte[][] SeedBlocks()
    {
        var baggage = "k8s.cluster.name=peer-cluster,k8s.namespace.name=peer,service.name=h2-hbone-server"u8.ToArray();
        return
        [
            [0x88],
            [0x88, .. Literal(0x40, "baggage"u8, baggage, huffman: true)],
            [0x88, 0xbe], // :status 200 + dynamic entry 62
            [0x3f, 0xe1, 0x1f, 0x88, .. Literal(0x40, "server"u8, "node-hbone-peer"u8, huffman: true)], // size update 4096
            [0x48, .. Str("200"u8, huffman: true), .. Literal(0x00, "x-peer-stream-count"u8, "12"u8, huffman: false)],
            [0x88, .. Literal(0x10, "server-timing"u8, "upstream-connect;dur=1.234"u8, huffman: true), 0xbf],
            [0x88, .. Literal(0x40, "a"u8, new byte[3000], huffman: false), 0xbe, 0xbe, 0xbe],
            [0x20, 0x88], // size update to 0: evicts everything
        ];
    }

    private static byte[] Literal(byte kind, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, bool huffman) =>
        [kind, .. Str(name, huffman), .. Str(value, huffman)];

    private static byte[] Str(ReadOnlySpan<byte> text, bool huffman)
    {
        var bytes = huffman ? HuffmanEncode(text) : text.ToArray();
        var output = new List<byte>();
        var flag = huffman ? 0x80 : 0x00;
        if (bytes.Length < 127)
        {
            output.Add((byte)(flag | bytes.Length));
        }
        else
        {
            output.Add((byte)(flag | 127));
            var rest = bytes.Length - 127;
            while (rest >= 128)
            {
                output.Add((byte)((rest % 128) | 0x80));
                rest /= 128;
            }

            output.Add((byte)rest);
        }

        output.AddRange(bytes);
        return [.. output];
    }

    private static byte[] HuffmanEncode(ReadOnlySpan<byte> text)
    {
        var output = new List<byte>();
        ulong accumulator = 0;
        var bits = 0;
        foreach (var symbol in text)
        {
            var code = Huffman.GetCode(symbol);
            var length = Huffman.GetCodeLength(symbol);
            accumulator = (accumulator << length) | code;
            bits += length;
            while (bits >= 8)
            {
                output.Add((byte)(accumulator >> (bits - 8)));
                bits -= 8;
            }
        }

        if (bits > 0)
        {
            output.Add((byte)((accumulator << (8 - bits)) | (0xffu >> bits)));
        }

        return [.. output];
    }

    private sealed class Sink : IHpackHeaderHandler
    {
        public int Count { get; private set; }

        public void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) => Count++;
    }
}
