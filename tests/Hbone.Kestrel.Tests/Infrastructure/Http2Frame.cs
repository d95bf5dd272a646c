using System.Buffers.Binary;

namespace Hbone.Kestrel.Tests.Infrastructure;

/// <summary>Frame types and flags of RFC 9113 used by the raw test client.</summary>
internal static class FrameType
{
    public const byte Data = 0x0, Headers = 0x1, Priority = 0x2, RstStream = 0x3, Settings = 0x4, PushPromise = 0x5, Ping = 0x6, GoAway = 0x7, WindowUpdate = 0x8, Continuation = 0x9;
}

internal static class FrameFlags
{
    public const byte EndStream = 0x1, Ack = 0x1, EndHeaders = 0x4, Padded = 0x8, Priority = 0x20;
}

internal static class SettingId
{
    public const ushort HeaderTableSize = 1, EnablePush = 2, MaxConcurrentStreams = 3, InitialWindowSize = 4, MaxFrameSize = 5, MaxHeaderListSize = 6;
}

/// <summary>One HTTP/2 frame as read from the wire.</summary>
internal sealed record Http2Frame(byte Type, byte Flags, int StreamId, byte[] Payload)
{
    public bool HasFlag(byte flag) => (Flags & flag) != 0;

    public int ErrorCode => Type switch
    {
        FrameType.RstStream => BinaryPrimitives.ReadInt32BigEndian(Payload),
        FrameType.GoAway => BinaryPrimitives.ReadInt32BigEndian(Payload.AsSpan(4)),
        _ => throw new InvalidOperationException($"frame type {Type} carries no error code"),
    };

    public override string ToString() => $"frame type={Type} flags=0x{Flags:x2} stream={StreamId} len={Payload.Length}";
}
