using Hbone.Http2.Hpack;
using static Hbone.Tests.Http2.Hpack.HpackTestSupport;

namespace Hbone.Tests.Http2.Hpack;

public class HuffmanTests
{
    [Theory]
    [InlineData(0, 0x1ff8u, 13)]
    [InlineData(1, 0x7fffd8u, 23)]
    [InlineData(10, 0x3ffffffcu, 30)]
    [InlineData(32, 0x14u, 6)]
    [InlineData(48, 0x0u, 5)]
    [InlineData(58, 0x5cu, 7)]
    [InlineData(92, 0x7fff0u, 19)]
    [InlineData(127, 0xffffffcu, 28)]
    [InlineData(195, 0x7fff1u, 19)]
    [InlineData(203, 0x7ffffdeu, 27)]
    [InlineData(220, 0xffffffdu, 28)]
    [InlineData(249, 0xffffffeu, 28)]
    [InlineData(255, 0x3ffffeeu, 26)]
    [InlineData(256, 0x3fffffffu, 30)]
    public void Code_table_matches_RFC_7541_Appendix_B(int symbol, uint code, int length)
    {
        Assert.Equal(code, Huffman.GetCode(symbol));
        Assert.Equal(length, Huffman.GetCodeLength(symbol));
    }

    [Fact]
    public void Code_table_is_complete_and_prefix_free()
    {
        // Kraft sum of exactly 1: the code lengths describe a full binary tree.
        ulong kraft = 0;
        for (int symbol = 0; symbol <= Huffman.EndOfString; symbol++)
        {
            kraft += 1UL << (30 - Huffman.GetCodeLength(symbol));
        }

        Assert.Equal(1UL << 30, kraft);
    }

    [Fact]
    public void Every_octet_round_trips()
    {
        var all = new byte[256];
        for (int i = 0; i < 256; i++)
        {
            all[i] = (byte)i;
            byte[] single = HuffmanEncode([(byte)i]);
            var decoded = new byte[Huffman.GetDecodedLengthUpperBound(single.Length)];
            int n = Huffman.Decode(single, decoded);
            Assert.Equal(new[] { (byte)i }, decoded[..n]);
        }

        byte[] encoded = HuffmanEncode(all);
        var output = new byte[Huffman.GetDecodedLengthUpperBound(encoded.Length)];
        int length = Huffman.Decode(encoded, output);
        Assert.Equal(all, output[..length]);
    }

    [Fact]
    public void Random_strings_round_trip()
    {
        var random = new Random(7541);
        for (int i = 0; i < 2000; i++)
        {
            var input = new byte[random.Next(0, 64)];
            random.NextBytes(input);
            if (i % 2 == 0)
            {
                for (int j = 0; j < input.Length; j++)
                {
                    input[j] = (byte)random.Next(0x20, 0x7F);
                }
            }

            byte[] encoded = HuffmanEncode(input);
            var output = new byte[Huffman.GetDecodedLengthUpperBound(encoded.Length)];
            Assert.Equal(input, output[..Huffman.Decode(encoded, output)]);
        }
    }

    [Fact]
    public void RFC_7541_C_4_1_authority_decodes()
    {
        var output = new byte[32];
        int n = Huffman.Decode(Hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff"), output);
        Assert.Equal("www.example.com"u8.ToArray(), output[..n]);
    }

    [Theory]
    [Trait("case", "H2-07")]
    [InlineData("ff")]          // 8 bits of padding
    [InlineData("1fff")]        // 'a' (00011), then 11 bits of ones
    [InlineData("fffffffc")]    // 30-bit EOS, then 2 padding bits
    [InlineData("0fffffff ff")] // '1' (00001), then the EOS code and 5 more ones
    [InlineData("00")]          // '0' (00000) then padding 000: not ones
    [InlineData("1e")]          // 'a' (00011), then padding 110: not all ones
    [InlineData("fe")]          // 8 bits that only begin a code ('!' is 11111110 00)
    public void Invalid_padding_or_EOS_throws(string hex)
    {
        var output = new byte[16];
        Assert.Throws<HpackDecodingException>(() => Huffman.Decode(Hex(hex), output));
    }

    [Fact]
    public void Padding_of_up_to_seven_ones_is_accepted()
    {
        var output = new byte[4];
        Assert.Equal(0, Huffman.Decode([], output));
        Assert.Equal(1, Huffman.Decode(Hex("07"), output)); // '0' + 111
        Assert.Equal((byte)'0', output[0]);
    }

    [Fact]
    public void Destination_too_small_is_reported()
    {
        byte[] encoded = HuffmanEncode("abcdef"u8);
        Assert.Equal(-1, Huffman.TryDecode(encoded, new byte[5]));
        Assert.Throws<ArgumentException>(() => Huffman.Decode(encoded, new byte[5]));
    }
}
