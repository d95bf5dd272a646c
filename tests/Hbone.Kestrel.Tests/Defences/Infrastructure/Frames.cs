using System.Buffers.Binary;
using System.Text;
using Hbone.Http2;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Defences.Infrastructure;

/// <summary>Builds raw HTTP/2 frames as bytes, so attacks can be written back to back in one TLS write.</summary>
internal static class Frames
{
    /// <summary>The largest frame a client may send before it has read the server's SETTINGS (RFC 9113 §4.2).</summary>
    public const int DefaultMaxFrameSize = 16 * 1024;

    public static byte[] Raw(byte type, byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[9 + payload.Length];
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = type;
        frame[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(5), streamId);
        payload.CopyTo(frame.AsSpan(9));
        return frame;
    }

    public static byte[] Headers(int streamId, ReadOnlySpan<byte> block, bool endStream, bool endHeaders = true) =>
        Raw(FrameType.Headers, (byte)((endStream ? FrameFlags.EndStream : 0) | (endHeaders ? FrameFlags.EndHeaders : 0)), streamId, block);

    public static byte[] Continuation(int streamId, ReadOnlySpan<byte> block, bool endHeaders) =>
        Raw(FrameType.Continuation, endHeaders ? FrameFlags.EndHeaders : (byte)0, streamId, block);

    /// <summary>HEADERS (END_HEADERS) with a CONNECT to <paramref name="authority"/>.</summary>
    public static byte[] Connect(int streamId, string authority, bool endStream = false) =>
        Headers(streamId, HpackBlock.Connect(authority).ToArray(), endStream);

    public static byte[] Data(int streamId, ReadOnlySpan<byte> payload, bool endStream = false) =>
        Raw(FrameType.Data, endStream ? FrameFlags.EndStream : (byte)0, streamId, payload);

    public static byte[] WindowUpdate(int streamId, int increment)
    {
        Span<byte> payload = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(payload, increment);
        return Raw(FrameType.WindowUpdate, 0, streamId, payload);
    }

    public static byte[] RstStream(int streamId, Http2ErrorCode code)
    {
        Span<byte> payload = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(payload, (int)code);
        return Raw(FrameType.RstStream, 0, streamId, payload);
    }

    public static byte[] Ping(long opaque, bool ack = false)
    {
        Span<byte> payload = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(payload, opaque);
        return Raw(FrameType.Ping, ack ? FrameFlags.Ack : (byte)0, 0, payload);
    }

    public static byte[] Settings(params (ushort Id, int Value)[] settings)
    {
        var payload = new byte[settings.Length * 6];
        for (var i = 0; i < settings.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(payload.AsSpan(i * 6), settings[i].Id);
            BinaryPrimitives.WriteInt32BigEndian(payload.AsSpan(i * 6 + 2), settings[i].Value);
        }

        return Raw(FrameType.Settings, 0, 0, payload);
    }

    public static byte[] SettingsAck() => Raw(FrameType.Settings, FrameFlags.Ack, 0, ReadOnlySpan<byte>.Empty);

    /// <summary>PRIORITY: exclusive bit clear, a dependency and a weight (5 octets).</summary>
    public static byte[] Priority(int streamId, int dependency = 0, byte weight = 15)
    {
        Span<byte> payload = stackalloc byte[5];
        BinaryPrimitives.WriteInt32BigEndian(payload, dependency);
        payload[4] = weight;
        return Raw(FrameType.Priority, 0, streamId, payload);
    }

    /// <summary>One header block split into HEADERS and CONTINUATION frames of at most <paramref name="chunk"/> octets.</summary>
    public static byte[] HeaderBlock(int streamId, ReadOnlySpan<byte> block, bool endStream = false, int chunk = DefaultMaxFrameSize)
    {
        var output = new MemoryStream();
        var first = block[..Math.Min(chunk, block.Length)];
        var rest = block[first.Length..];
        output.Write(Headers(streamId, first, endStream, endHeaders: rest.IsEmpty));
        while (!rest.IsEmpty)
        {
            var part = rest[..Math.Min(chunk, rest.Length)];
            rest = rest[part.Length..];
            output.Write(Continuation(streamId, part, endHeaders: rest.IsEmpty));
        }

        return output.ToArray();
    }

    /// <summary>
    /// A CONNECT whose decoded header list (RFC 7541 §4.1 sizes) exceeds <paramref name="limit"/>: one extra
    /// never-indexed literal, split into frames of at most 16 KiB.
    /// </summary>
    public static byte[] OversizedConnect(int streamId, string authority, int limit = 64 * 1024)
    {
        var block = HpackBlock.Connect(authority).Literal("x-oversized", new string('a', limit + 1024));
        return HeaderBlock(streamId, block.ToArray());
    }

    public static byte[] Concat(IEnumerable<byte[]> frames)
    {
        var output = new MemoryStream();
        foreach (var frame in frames)
        {
            output.Write(frame);
        }

        return output.ToArray();
    }

    public static byte[] Repeat(byte[] frame, int count) => Concat(Enumerable.Repeat(frame, count));
}

/// <summary>An HPACK header block built field by field, including representations a polite client avoids.</summary>
internal sealed class HpackBlock
{
    /// <summary>Index of the newest dynamic table entry (RFC 7541 §2.3.3: the static table has 61 entries).</summary>
    public const int FirstDynamicIndex = 62;

    private readonly MemoryStream _bytes = new();

    public static HpackBlock Connect(string authority) =>
        new HpackBlock().Literal(":method", "CONNECT").Literal(":authority", authority);

    public int Length => (int)_bytes.Length;

    /// <summary>Literal Header Field Never Indexed, new name (RFC 7541 §6.2.3).</summary>
    public HpackBlock Literal(string name, string value)
    {
        _bytes.WriteByte(0x10);
        WriteString(name);
        WriteString(value);
        return this;
    }

    /// <summary>Literal Header Field with Incremental Indexing, new name (RFC 7541 §6.2.1): enters the dynamic table.</summary>
    public HpackBlock LiteralWithIndexing(string name, string value)
    {
        _bytes.WriteByte(0x40);
        WriteString(name);
        WriteString(value);
        return this;
    }

    /// <summary>Indexed Header Field (RFC 7541 §6.1); indices below 127 take one octet.</summary>
    public HpackBlock Indexed(int index)
    {
        WriteInteger(0x80, 7, index);
        return this;
    }

    public HpackBlock Indexed(int index, int count)
    {
        for (var i = 0; i < count; i++)
        {
            Indexed(index);
        }

        return this;
    }

    public byte[] ToArray() => _bytes.ToArray();

    private void WriteString(string value)
    {
        var bytes = Encoding.Latin1.GetBytes(value);
        WriteInteger(0x00, 7, bytes.Length);
        _bytes.Write(bytes);
    }

    private void WriteInteger(byte prefix, int bits, int value)
    {
        var max = (1 << bits) - 1;
        if (value < max)
        {
            _bytes.WriteByte((byte)(prefix | value));
            return;
        }

        _bytes.WriteByte((byte)(prefix | max));
        value -= max;
        while (value >= 128)
        {
            _bytes.WriteByte((byte)((value % 128) + 128));
            value /= 128;
        }

        _bytes.WriteByte((byte)value);
    }
}
