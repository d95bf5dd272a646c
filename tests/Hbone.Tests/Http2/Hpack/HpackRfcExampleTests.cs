using Hbone.Http2.Hpack;
using static Hbone.Tests.Http2.Hpack.HpackTestSupport;

namespace Hbone.Tests.Http2.Hpack;

/// <summary>RFC 7541 Appendix C, decoded block by block with the dynamic table checked after each.</summary>
public class HpackRfcExampleTests
{
    private const string Date21 = "Mon, 21 Oct 2013 20:13:21 GMT";
    private const string Date22 = "Mon, 21 Oct 2013 20:13:22 GMT";
    private const string Cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";

    [Fact]
    public void C_2_1_literal_with_indexing_adds_to_the_table()
    {
        var decoder = new HpackDecoder();
        var headers = Decode(decoder, Hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
        Assert.Equal([("custom-key", "custom-header")], headers);
        Assert.Equal([("custom-key", "custom-header")], DynamicTable(decoder));
        Assert.Equal(55, decoder.DynamicTableSize);
    }

    [Fact]
    public void C_2_2_literal_without_indexing_leaves_the_table_empty()
    {
        var decoder = new HpackDecoder();
        var headers = Decode(decoder, Hex("040c 2f73 616d 706c 652f 7061 7468"));
        Assert.Equal([(":path", "/sample/path")], headers);
        Assert.Equal(0, decoder.DynamicTableSize);
        Assert.Equal(0, decoder.DynamicTableCount);
    }

    [Fact]
    public void C_2_3_never_indexed_literal_leaves_the_table_empty()
    {
        var decoder = new HpackDecoder();
        var headers = Decode(decoder, Hex("1008 7061 7373 776f 7264 0673 6563 7265 74"));
        Assert.Equal([("password", "secret")], headers);
        Assert.Equal(0, decoder.DynamicTableSize);
    }

    [Fact]
    public void C_2_4_indexed_static_field()
    {
        var decoder = new HpackDecoder();
        Assert.Equal([(":method", "GET")], Decode(decoder, Hex("82")));
        Assert.Equal(0, decoder.DynamicTableSize);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void C_3_and_C_4_requests_share_the_dynamic_table(bool huffman)
    {
        var decoder = new HpackDecoder();
        string[] blocks = huffman
            ? ["8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
               "8286 84be 5886 a8eb 1064 9cbf",
               "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"]
            : ["8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
               "8286 84be 5808 6e6f 2d63 6163 6865",
               "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65"];

        Assert.Equal(
            [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com")],
            Decode(decoder, Hex(blocks[0])));
        Assert.Equal([(":authority", "www.example.com")], DynamicTable(decoder));
        Assert.Equal(57, decoder.DynamicTableSize);

        Assert.Equal(
            [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com"), ("cache-control", "no-cache")],
            Decode(decoder, Hex(blocks[1])));
        Assert.Equal([("cache-control", "no-cache"), (":authority", "www.example.com")], DynamicTable(decoder));
        Assert.Equal(110, decoder.DynamicTableSize);

        Assert.Equal(
            [(":method", "GET"), (":scheme", "https"), (":path", "/index.html"), (":authority", "www.example.com"), ("custom-key", "custom-value")],
            Decode(decoder, Hex(blocks[2])));
        Assert.Equal(
            [("custom-key", "custom-value"), ("cache-control", "no-cache"), (":authority", "www.example.com")],
            DynamicTable(decoder));
        Assert.Equal(164, decoder.DynamicTableSize);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void C_5_and_C_6_responses_evict_from_a_256_octet_table(bool huffman)
    {
        var decoder = new HpackDecoder(maxDynamicTableSize: 256);
        string[] blocks = huffman
            ? ["4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
               "4883 640e ffc1 c0bf",
               "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07"]
            : ["4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
               "4803 3330 37c1 c0bf",
               "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31"];

        Assert.Equal(
            [(":status", "302"), ("cache-control", "private"), ("date", Date21), ("location", "https://www.example.com")],
            Decode(decoder, Hex(blocks[0])));
        Assert.Equal(
            [("location", "https://www.example.com"), ("date", Date21), ("cache-control", "private"), (":status", "302")],
            DynamicTable(decoder));
        Assert.Equal(222, decoder.DynamicTableSize);

        Assert.Equal(
            [(":status", "307"), ("cache-control", "private"), ("date", Date21), ("location", "https://www.example.com")],
            Decode(decoder, Hex(blocks[1])));
        Assert.Equal(
            [(":status", "307"), ("location", "https://www.example.com"), ("date", Date21), ("cache-control", "private")],
            DynamicTable(decoder));
        Assert.Equal(222, decoder.DynamicTableSize);

        Assert.Equal(
            [(":status", "200"), ("cache-control", "private"), ("date", Date22), ("location", "https://www.example.com"), ("content-encoding", "gzip"), ("set-cookie", Cookie)],
            Decode(decoder, Hex(blocks[2])));
        Assert.Equal([("set-cookie", Cookie), ("content-encoding", "gzip"), ("date", Date22)], DynamicTable(decoder));
        Assert.Equal(215, decoder.DynamicTableSize);
    }
}
