using Hbone.Http2.Hpack;
using static Hbone.Tests.Http2.Hpack.HpackTestSupport;

namespace Hbone.Tests.Http2.Hpack;

/// <summary>The server's bounded mode: an over-limit list feeds no more fields, yet the dynamic table stays in step.</summary>
public class HpackBoundedDecodeTests
{
    [Fact]
    [Trait("case", "H2-06")]
    public void Over_limit_list_stops_feeding_the_handler_but_still_indexes_its_entries()
    {
        var decoder = new HpackDecoder();
        var handler = new RecordingHeaderHandler();
        var block = Concat(
            Hex("40"), RawLiteral("x-a"), RawLiteral("1"),
            Hex("40"), RawLiteral("x-big"), HuffmanLiteral(new string('v', 200)),
            Hex("40"), RawLiteral("x-c"), RawLiteral("3"));

        Assert.False(decoder.DecodeBounded(block, handler, maxHeaderListSize: 100));

        // x-a fitted; x-big crossed the limit, so neither it nor x-c reached the handler.
        Assert.Equal([("x-a", "1")], handler.Headers);
        Assert.Equal([("x-c", "3"), ("x-big", new string('v', 200)), ("x-a", "1")], DynamicTable(decoder));

        // The next block can refer to entries the over-limit block added.
        var next = new RecordingHeaderHandler();
        Assert.True(decoder.DecodeBounded(Hex("be"), next, maxHeaderListSize: 100));
        Assert.Equal([("x-c", "3")], next.Headers);
    }

    [Fact]
    [Trait("case", "H2-07")]
    public void Bounded_mode_still_rejects_malformed_blocks()
    {
        var decoder = new HpackDecoder();
        Assert.Throws<HpackDecodingException>(() => decoder.DecodeBounded(Hex("3f e2 1f"), new RecordingHeaderHandler(), 100));
        Assert.Throws<HpackDecodingException>(() => decoder.DecodeBounded(Hex("ff 00"), new RecordingHeaderHandler(), 100));
    }
}
