using System.Text;
using BenchmarkDotNet.Attributes;
using Hbone.Http2.Hpack;

namespace Hbone.Benchmarks;

/// <summary>HPACK: encoding the CONNECT request and decoding typical responses.</summary>
[MemoryDiagnoser]
public class HpackBenchmarks
{
    private const string Date = "Sat, 21 Nov 2026 20:00:00 GMT";

    private readonly byte[] _encodeBuffer = new byte[1024];
    private readonly NullHandler _handler = new();
    private HpackDecoder _decoder = null!;
    private byte[] _kestrelResponse = null!;
    private byte[] _huffmanResponseWithHits = null!;
    private byte[] _huffmanResponseWithInserts = null!;

    /// <summary>Builds the blocks and warms the decoder's dynamic table as a first response would.</summary>
    [GlobalSetup]
    public void Setup()
    {
        // Kestrel: ":status 200" indexed, then date as a literal with the static name 33.
        _kestrelResponse = Concat([0x88, 0x0F, 0x12], RawString(Date));

        // A first response as Node (nghttp2) or Rust h2 send it: Huffman strings, fields added to the table.
        byte[] first = Concat(
            [0x88, 0x5F], HuffmanString("text/plain; charset=utf-8"), // content-type (31), incremental indexing
            [0x76], HuffmanString("envoy"),                           // server (54), incremental indexing
            [0x40], HuffmanString("x-envoy-upstream-service-time"), HuffmanString("3"));

        // Later responses: ":status 200", the three entries by index, a new date not indexed.
        _huffmanResponseWithHits = Concat([0x88, 0xBE, 0xBF, 0xC0, 0x0F, 0x12], HuffmanString(Date));

        // Every block resets the table (size updates 0 then 4096) and inserts again: the insert and evict path.
        _huffmanResponseWithInserts = Concat([0x20, 0x3F, 0xE1, 0x1F], first, [0x61], HuffmanString(Date), [0xBE, 0xBF, 0xC0]);

        _decoder = new HpackDecoder();
        _decoder.Decode(first, _handler);
    }

    /// <summary>The HBONE CONNECT request headers, as the client writes them.</summary>
    [Benchmark]
    public int EncodeConnectRequest()
    {
        Span<byte> buffer = _encodeBuffer;
        int length = 0;
        HpackEncoder.TryEncodeHeader(2, "CONNECT", buffer, out int written);
        length += written;
        HpackEncoder.TryEncodeHeader(1, "10.244.0.7:8080", buffer.Slice(length), out written);
        length += written;
        HpackEncoder.TryEncodeHeader("forwarded", "for=\"10.244.0.2:40123\"", buffer.Slice(length), out written);
        length += written;
        HpackEncoder.TryEncodeHeader("baggage", "k8s.cluster.name=Kubernetes,k8s.namespace.name=default,k8s.deployment.name=sleep,service.name=sleep,service.version=v1", buffer.Slice(length), out written);
        length += written;
        HpackEncoder.TryEncodeHeader("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", buffer.Slice(length), out written);
        return length + written;
    }

    /// <summary>Kestrel's 200: an indexed status and a raw date literal.</summary>
    [Benchmark]
    public int DecodeKestrelResponse()
    {
        _decoder.Decode(_kestrelResponse, _handler);
        return _handler.Count;
    }

    /// <summary>A Huffman-coded response hitting three dynamic entries.</summary>
    [Benchmark]
    public int DecodeHuffmanResponseWithDynamicHits()
    {
        _decoder.Decode(_huffmanResponseWithHits, _handler);
        return _handler.Count;
    }

    /// <summary>A Huffman-coded response that inserts four entries and evicts them on the next block.</summary>
    [Benchmark]
    public int DecodeHuffmanResponseWithInserts()
    {
        _decoder.Decode(_huffmanResponseWithInserts, _handler);
        return _handler.Count;
    }

    private static byte[] RawString(string text)
    {
        byte[] bytes = Encoding.ASCII.GetBytes(text);
        return Concat(Length(bytes.Length, 0x00), bytes);
    }

    private static byte[] HuffmanString(string text)
    {
        var output = new List<byte>();
        ulong bits = 0;
        int count = 0;
        foreach (char c in text)
        {
            int length = Huffman.GetCodeLength(c);
            bits = (bits << length) | Huffman.GetCode(c);
            count += length;
            while (count >= 8)
            {
                output.Add((byte)(bits >> (count - 8)));
                count -= 8;
            }
        }

        if (count > 0)
        {
            output.Add((byte)((bits << (8 - count)) | (0xFFu >> count)));
        }

        return Concat(Length(output.Count, 0x80), [.. output]);
    }

    private static byte[] Length(int length, byte flags)
    {
        var prefix = new byte[8];
        HpackEncoder.TryEncodeInteger(length, 7, flags, prefix, out int written);
        return prefix[..written];
    }

    private static byte[] Concat(params byte[][] parts)
    {
        var all = new List<byte>();
        foreach (byte[] part in parts)
        {
            all.AddRange(part);
        }

        return [.. all];
    }

    private sealed class NullHandler : IHpackHeaderHandler
    {
        public int Count { get; private set; }

        public void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) => Count += name.Length + value.Length;
    }
}
