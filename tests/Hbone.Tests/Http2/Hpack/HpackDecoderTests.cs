using System.Text;
using Hbone.Http2.Hpack;
using static Hbone.Tests.Http2.Hpack.HpackTestSupport;

namespace Hbone.Tests.Http2.Hpack;

public class HpackDecoderTests
{
    [Fact]
    public void Indexed_fields_resolve_static_and_dynamic_entries()
    {
        var decoder = new HpackDecoder();
        Decode(decoder, Concat(Hex("40"), RawLiteral("x-a"), RawLiteral("1"), Hex("40"), RawLiteral("x-b"), RawLiteral("2")));

        // 62 is the newest entry, 63 the one before; 61 is the last static entry.
        Assert.Equal(
            [("x-b", "2"), ("x-a", "1"), ("www-authenticate", ""), (":method", "GET")],
            Decode(decoder, Hex("be bf bd 82")));
    }

    [Fact]
    public void Literal_names_can_come_from_either_table_and_in_Huffman()
    {
        var decoder = new HpackDecoder();
        Decode(decoder, Concat(Hex("40"), RawLiteral("x-name"), RawLiteral("v")));
        var headers = Decode(decoder, Concat(
            Hex("0f 2f"), HuffmanLiteral("long"),      // without indexing, name index 15 + 47 = 62 (x-name)
            Hex("1f 2f"), RawLiteral("secret"),        // never indexed, dynamic name 62 (x-name)
            Hex("00"), HuffmanLiteral("x-huff"), HuffmanLiteral("Value With Spaces"),
            Hex("10"), RawLiteral("x-never"), RawLiteral("n")));
        Assert.Equal(
            [("x-name", "long"), ("x-name", "secret"), ("x-huff", "Value With Spaces"), ("x-never", "n")],
            headers);
        Assert.Equal([("x-name", "v")], DynamicTable(decoder));
    }

    [Fact]
    public void Incremental_indexing_with_a_dynamic_name_survives_evicting_that_entry()
    {
        // Room for exactly one 64-octet entry: the new entry evicts the one its name comes from.
        var decoder = new HpackDecoder(maxDynamicTableSize: 64);
        Decode(decoder, Concat(Hex("40"), RawLiteral("x-key"), RawLiteral(new string('a', 27))));
        Assert.Equal(64, decoder.DynamicTableSize);

        var headers = Decode(decoder, Concat(Hex("7e"), RawLiteral(new string('b', 27)), Hex("be")));
        Assert.Equal([("x-key", new string('b', 27)), ("x-key", new string('b', 27))], headers);
        Assert.Equal([("x-key", new string('b', 27))], DynamicTable(decoder));
    }

    [Fact]
    public void Entry_larger_than_the_table_empties_it_without_error()
    {
        var decoder = new HpackDecoder(maxDynamicTableSize: 100);
        Decode(decoder, Concat(Hex("40"), RawLiteral("a"), RawLiteral("b")));
        Assert.Equal(34, decoder.DynamicTableSize);

        var headers = Decode(decoder, Concat(Hex("40"), RawLiteral("big"), RawLiteral(new string('v', 80))));
        Assert.Equal([("big", new string('v', 80))], headers);
        Assert.Equal(0, decoder.DynamicTableSize);
        Assert.Equal(0, decoder.DynamicTableCount);
    }

    [Fact]
    public void Dynamic_table_matches_a_reference_model_through_evictions_and_compactions()
    {
        var random = new Random(0x7541);
        var decoder = new HpackDecoder(maxDynamicTableSize: 512);
        var model = new List<(string Name, string Value)>();
        for (int i = 0; i < 3000; i++)
        {
            string name = "n" + i;
            string value = new('v', random.Next(0, 200));
            Decode(decoder, Concat(Hex("40"), RawLiteral(name), RawLiteral(value)));

            model.Insert(0, (name, value));
            int size = 0;
            for (int j = 0; j < model.Count; j++)
            {
                size += model[j].Name.Length + model[j].Value.Length + 32;
            }

            while (size > 512)
            {
                var last = model[^1];
                size -= last.Name.Length + last.Value.Length + 32;
                model.RemoveAt(model.Count - 1);
            }

            Assert.Equal(size, decoder.DynamicTableSize);
            Assert.Equal(model, DynamicTable(decoder));
        }
    }

    [Fact]
    public void Size_updates_at_the_start_of_a_block_evict_and_restore()
    {
        var decoder = new HpackDecoder();
        Decode(decoder, Hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d"));
        Assert.Equal(57, decoder.DynamicTableSize);

        // 0 then 4096 (3f e1 1f): both at the start, as after a SETTINGS change.
        Assert.Equal([(":method", "GET")], Decode(decoder, Hex("20 3fe11f 82")));
        Assert.Equal(0, decoder.DynamicTableSize);
        Assert.Equal(4096, decoder.DynamicTableCapacity);

        // Shrinking to 60 keeps a 57-octet entry; then a second one evicts it.
        Decode(decoder, Concat(Hex("3f 1d 41"), RawLiteral("a.example")));
        Assert.Equal(60, decoder.DynamicTableCapacity);
        Assert.Equal([(":authority", "a.example")], DynamicTable(decoder));
        Decode(decoder, Concat(Hex("41"), RawLiteral("b.example")));
        Assert.Equal([(":authority", "b.example")], DynamicTable(decoder));
    }

    [Fact]
    public void Table_persists_across_blocks_and_Huffman_values_share_one_buffer()
    {
        var decoder = new HpackDecoder();
        string longValue = new('z', 10_000);
        var headers = Decode(decoder, Concat(Hex("40"), HuffmanLiteral("x-long"), HuffmanLiteral(longValue)));
        Assert.Equal([("x-long", longValue)], headers);
        Assert.Equal(0, decoder.DynamicTableSize); // larger than the 4096-octet table
        Assert.Equal([("x-long", longValue)], Decode(decoder, Concat(Hex("00"), HuffmanLiteral("x-long"), HuffmanLiteral(longValue))));
    }

    [Fact]
    public void Header_list_at_the_limit_is_accepted_and_one_octet_more_is_not()
    {
        // name (1) + value + 32 == 100
        var decoder = new HpackDecoder(maxHeaderListSize: 100);
        Assert.Single(Decode(decoder, Concat(Hex("00"), RawLiteral("a"), RawLiteral(new string('v', 67)))));
        Assert.Throws<HpackHeaderListTooLargeException>(() => Decode(decoder, Concat(Hex("00"), RawLiteral("a"), RawLiteral(new string('v', 68)))));
        Assert.Throws<HpackHeaderListTooLargeException>(() => Decode(decoder, Concat(Hex("00"), RawLiteral("a"), HuffmanLiteral(new string('v', 68)))));

        // The limit is per block: the next block starts again from zero.
        Assert.Single(Decode(decoder, Concat(Hex("00"), RawLiteral("a"), HuffmanLiteral(new string('v', 67)))));
    }

    [Theory]
    [Trait("case", "H2-06")]
    [InlineData(false)]
    [InlineData(true)]
    public void H2_06_HPACK_bomb_stops_at_the_header_list_limit(bool separateBlocks)
    {
        const int limit = 16 * 1024;
        var decoder = new HpackDecoder(maxDynamicTableSize: 4096, maxHeaderListSize: limit);

        // A 4 KB entry (1 + 4063 + 32 = 4096 octets) fills the table, then 10,000 one-octet references to it.
        byte[] insert = Concat(Hex("40"), RawLiteral("x"), HuffmanLiteral(new string('a', 4063)));
        byte[] references = new byte[10_000];
        references.AsSpan().Fill(0xBE);

        var handler = new CountingHeaderHandler();
        if (separateBlocks)
        {
            decoder.Decode(insert, handler);
            Assert.Throws<HpackHeaderListTooLargeException>(() => decoder.Decode(references, handler));
        }
        else
        {
            Assert.Throws<HpackHeaderListTooLargeException>(() => decoder.Decode(Concat(insert, references), handler));
        }

        Assert.Equal(4096, decoder.DynamicTableSize);
        Assert.True(handler.Octets <= 2 * limit, $"decoded {handler.Octets} octets before stopping");
        Assert.True(handler.Count <= 5, $"delivered {handler.Count} fields before stopping");
    }

    [Theory]
    [Trait("case", "H2-07")]
    [InlineData("82 20", "size update after a field")]
    [InlineData("82 3fe11f", "size update after a field, even to the same size")]
    [InlineData("3fe21f", "size update to 4097 > SETTINGS_HEADER_TABLE_SIZE 4096")]
    [InlineData("3fffffffff07", "size update to 2^31 - 1")]
    [InlineData("80", "indexed field with index 0")]
    [InlineData("be", "indexed field beyond an empty dynamic table")]
    [InlineData("ff80 01", "indexed field 255")]
    [InlineData("7e 0161", "literal name index beyond the dynamic table")]
    [InlineData("0f 7f 0161", "literal name index 142 without indexing")]
    [InlineData("ff ffffffff0f", "integer above 2^31 - 1")]
    [InlineData("ff 8080808080 00", "integer with six continuation octets")]
    [InlineData("ff 80", "integer cut off by the end of the block")]
    [InlineData("40 0a 6375 7374", "name string longer than the rest of the block")]
    [InlineData("40 01 61 05 6162", "value string longer than the rest of the block")]
    [InlineData("40 01 61", "block ends before the value string")]
    [InlineData("40", "block ends before the name string")]
    [InlineData("00 7f ffffffff07", "string length above 2^31 - 1")]
    [InlineData("40 81 ff 01 61", "Huffman name with 8 bits of padding")]
    [InlineData("40 01 61 81 00", "Huffman value with zero padding")]
    [InlineData("40 01 61 84 ffffffff", "Huffman value containing EOS")]
    public void Malformed_blocks_throw_HpackDecodingException(string hex, string why)
    {
        var decoder = new HpackDecoder();
        var error = Assert.Throws<HpackDecodingException>(() => Decode(decoder, Hex(hex)));
        Assert.False(string.IsNullOrEmpty(error.Message), why);
    }

    [Fact]
    [Trait("case", "H2-07")]
    public void Size_update_to_the_setting_itself_is_accepted()
    {
        var decoder = new HpackDecoder(maxDynamicTableSize: 256);
        Decode(decoder, Hex("3f e1 01")); // 256
        Assert.Equal(256, decoder.DynamicTableCapacity);
        Assert.Throws<HpackDecodingException>(() => Decode(decoder, Hex("3f e2 01"))); // 257
    }

    [Fact]
    public void Values_are_passed_through_as_octets()
    {
        var decoder = new HpackDecoder();
        byte[] block = Concat(Hex("00 01 61 03"), [0x00, 0xFF, 0x80]);
        var handler = new RecordingHeaderHandler();
        decoder.Decode(block, handler);
        Assert.Equal(new byte[] { 0x00, 0xFF, 0x80 }, Encoding.Latin1.GetBytes(handler.Headers[0].Value));
    }
}
