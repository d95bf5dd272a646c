using Hbone.Http2.Hpack;
using static Hbone.Tests.Http2.Hpack.HpackTestSupport;

namespace Hbone.Tests.Http2.Hpack;

public class HpackEncoderTests
{
    private static readonly (string Name, string Value)[] ConnectRequest =
    [
        (":method", "CONNECT"),
        (":authority", "10.0.0.1:8080"),
        ("forwarded", "for=\"10.244.0.2:40123\""),
        ("baggage", "k8s.cluster.name=Kubernetes,k8s.namespace.name=default,service.name=sleep"),
        ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    ];

    [Fact]
    public void Connect_request_round_trips_through_the_decoder()
    {
        var block = new byte[512];
        int length = 0;
        foreach (var (name, value) in ConnectRequest)
        {
            Assert.True(HpackEncoder.TryEncodeHeader(name, value, block.AsSpan(length), out int written));
            length += written;
        }

        var decoder = new HpackDecoder();
        Assert.Equal(ConnectRequest, Decode(decoder, block[..length]));
        Assert.Equal(0, decoder.DynamicTableSize);
    }

    [Fact]
    public void Static_name_uses_the_indexed_name_form()
    {
        var destination = new byte[32];
        Assert.True(HpackEncoder.TryEncodeHeader(":authority", "10.0.0.1:8080", destination, out int written));

        // 0000 0001 = without indexing, name index 1; then a raw 13-octet string.
        Assert.Equal(Hex("01 0d 31302e302e302e313a38303830"), destination[..written]);
    }

    [Fact]
    public void Static_index_overload_writes_the_same_bytes()
    {
        var byName = new byte[32];
        var byIndex = new byte[32];
        Assert.True(HpackEncoder.TryEncodeHeader(":method", "CONNECT", byName, out int a));
        Assert.True(HpackEncoder.TryEncodeHeader(2, "CONNECT", byIndex, out int b));
        Assert.Equal(Hex("02 07 434f4e4e454354"), byName[..a]);
        Assert.Equal(byName[..a], byIndex[..b]);
    }

    [Fact]
    public void Unknown_name_is_a_literal_lowercased_name()
    {
        var destination = new byte[32];
        Assert.True(HpackEncoder.TryEncodeHeader("X-Id", "7", destination, out int written));
        Assert.Equal(Hex("00 04 782d6964 01 37"), destination[..written]);
    }

    [Fact]
    public void Indexed_field_is_one_octet()
    {
        var destination = new byte[4];
        Assert.True(HpackEncoder.TryEncodeIndexed(8, destination, out int written));
        Assert.Equal(Hex("88"), destination[..written]);
        Assert.Equal([(":status", "200")], Decode(new HpackDecoder(), destination[..written]));
    }

    [Theory]
    [InlineData(":authority", 1)]
    [InlineData(":method", 2)]
    [InlineData(":path", 4)]
    [InlineData(":scheme", 6)]
    [InlineData(":status", 8)]
    [InlineData("accept-encoding", 16)]
    [InlineData("date", 33)]
    [InlineData("www-authenticate", 61)]
    [InlineData("forwarded", 0)]
    [InlineData(":Authority", 0)]
    [InlineData("", 0)]
    public void Static_name_index_is_the_first_entry_with_that_name(string name, int expected) =>
        Assert.Equal(expected, HpackEncoder.GetStaticNameIndex(name));

    [Fact]
    public void Static_name_index_agrees_with_the_static_table()
    {
        for (int i = 1; i <= HpackStaticTable.Count; i++)
        {
            int found = HpackEncoder.GetStaticNameIndex(HpackStaticTable.GetNameString(i));
            Assert.True(found >= 1 && found <= i);
            Assert.Equal(HpackStaticTable.GetNameString(i), HpackStaticTable.GetNameString(found));
        }
    }

    [Theory]
    [InlineData(10, 5, "0a")]       // RFC 7541 C.1.1
    [InlineData(1337, 5, "1f9a0a")] // C.1.2
    [InlineData(42, 8, "2a")]       // C.1.3
    [InlineData(31, 5, "1f00")]
    [InlineData(int.MaxValue, 7, "7f80ffffff07")]
    public void Integer_encoding_matches_RFC_7541_C_1(int value, int prefixBits, string expected)
    {
        var destination = new byte[8];
        Assert.True(HpackEncoder.TryEncodeInteger(value, prefixBits, 0, destination, out int written));
        Assert.Equal(Hex(expected), destination[..written]);
    }

    [Fact]
    public void Too_small_destination_returns_false_at_every_length()
    {
        var full = new byte[128];
        Assert.True(HpackEncoder.TryEncodeHeader("traceparent", ConnectRequest[4].Value, full, out int needed));
        for (int size = 0; size < needed; size++)
        {
            Assert.False(HpackEncoder.TryEncodeHeader("traceparent", ConnectRequest[4].Value, new byte[size], out int written));
            Assert.Equal(0, written);
        }

        Assert.False(HpackEncoder.TryEncodeInteger(1337, 5, 0, new byte[2], out _));
        Assert.False(HpackEncoder.TryEncodeIndexed(2, Span<byte>.Empty, out _));
    }

    [Fact]
    public void Non_ascii_and_bad_indices_are_rejected()
    {
        var destination = new byte[64];
        Assert.Throws<ArgumentException>(() => HpackEncoder.TryEncodeHeader("x", "caf\u00e9", destination, out _));
        Assert.Throws<ArgumentException>(() => HpackEncoder.TryEncodeHeader("", "v", destination, out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => HpackEncoder.TryEncodeIndexed(0, destination, out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => HpackEncoder.TryEncodeHeader(62, "v", destination, out _));
    }
}
