using System.Buffers;
using System.Buffers.Binary;

namespace Hbone.Http2;

/// <summary>The 9-byte frame header of RFC 9113 §4.1.</summary>
internal readonly struct FrameHeader
{
    public const int Size = 9;
    public const int MinMaxFrameSize = 16 * 1024;
    public const int MaxMaxFrameSize = (1 << 24) - 1;

    // DATA payload that makes a frame exactly 16 KiB with its header: one full TLS record, and two fill a 32 KiB
    // transport block, where 16 KiB payloads would spill 9 bytes into an extra record and a half-empty block.
    public const int RecordAlignedDataPayload = MinMaxFrameSize - Size;

    public FrameHeader(int length, FrameType type, byte flags, int streamId)
    {
        Length = length;
        Type = type;
        Flags = flags;
        StreamId = streamId;
    }

    public int Length { get; }

    public FrameType Type { get; }

    public byte Flags { get; }

    public int StreamId { get; }

    public bool HasFlag(byte flag) => (Flags & flag) != 0;

    public static FrameHeader Read(ReadOnlySpan<byte> source) => new(
        (source[0] << 16) | (source[1] << 8) | source[2],
        (FrameType)source[3],
        source[4],
        BinaryPrimitives.ReadInt32BigEndian(source[5..]) & int.MaxValue);

    /// <summary>Reads a header from the front of <paramref name="buffer"/>, which may span segments.</summary>
    public static FrameHeader Read(in ReadOnlySequence<byte> buffer)
    {
        if (buffer.FirstSpan.Length >= Size)
        {
            return Read(buffer.FirstSpan);
        }

        Span<byte> header = stackalloc byte[Size];
        buffer.Slice(0, Size).CopyTo(header);
        return Read(header);
    }

    public static void Write(Span<byte> destination, int length, FrameType type, byte flags, int streamId)
    {
        destination[0] = (byte)(length >> 16);
        destination[1] = (byte)(length >> 8);
        destination[2] = (byte)length;
        destination[3] = (byte)type;
        destination[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(destination[5..], streamId);
    }

    public override string ToString() => $"{Type} flags=0x{Flags:x2} stream={StreamId} length={Length}";
}
