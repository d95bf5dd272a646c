namespace Hbone.Http2;

/// <summary>Frame types of RFC 9113 §6.</summary>
internal enum FrameType : byte
{
    Data = 0x0,
    Headers = 0x1,
    Priority = 0x2,
    RstStream = 0x3,
    Settings = 0x4,
    PushPromise = 0x5,
    Ping = 0x6,
    GoAway = 0x7,
    WindowUpdate = 0x8,
    Continuation = 0x9,
}

/// <summary>Frame flags of RFC 9113 §6.</summary>
internal static class FrameFlags
{
    public const byte None = 0x0;
    public const byte EndStream = 0x1;
    public const byte Ack = 0x1;
    public const byte EndHeaders = 0x4;
    public const byte Padded = 0x8;
    public const byte Priority = 0x20;
}

/// <summary>SETTINGS identifiers of RFC 9113 §6.5.2.</summary>
internal static class SettingId
{
    public const ushort HeaderTableSize = 0x1;
    public const ushort EnablePush = 0x2;
    public const ushort MaxConcurrentStreams = 0x3;
    public const ushort InitialWindowSize = 0x4;
    public const ushort MaxFrameSize = 0x5;
    public const ushort MaxHeaderListSize = 0x6;
}
