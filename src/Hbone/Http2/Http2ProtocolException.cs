namespace Hbone.Http2;

/// <summary>A connection error found while reading the peer's frames; the connection answers GOAWAY with <see cref="ErrorCode"/>.</summary>
internal sealed class Http2ProtocolException(Http2ErrorCode errorCode, string message) : Exception(message)
{
    public Http2ErrorCode ErrorCode { get; } = errorCode;
}
