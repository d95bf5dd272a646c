namespace Hbone.Kestrel;

/// <summary>The RFC 9113 §7 error codes HBONE uses when it resets a stream.</summary>
public static class Http2ErrorCodes
{
    /// <summary>NO_ERROR (0x0).</summary>
    public const int NoError = 0x0;
    /// <summary>PROTOCOL_ERROR (0x1).</summary>
    public const int ProtocolError = 0x1;
    /// <summary>INTERNAL_ERROR (0x2).</summary>
    public const int InternalError = 0x2;
    /// <summary>REFUSED_STREAM (0x7): the stream was not processed; the client may retry it elsewhere.</summary>
    public const int RefusedStream = 0x7;
    /// <summary>CANCEL (0x8): the stream is no longer needed.</summary>
    public const int Cancel = 0x8;
    /// <summary>CONNECT_ERROR (0xa): the TCP connection of a CONNECT was reset or abnormally closed (RFC 9113 §8.5).</summary>
    public const int ConnectError = 0xa;
}
