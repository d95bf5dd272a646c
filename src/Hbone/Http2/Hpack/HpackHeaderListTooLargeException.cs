namespace Hbone.Http2.Hpack;

/// <summary>
/// The decoded header list exceeds the limit (name + value + 32 per field, RFC 9113 §6.5.2). Decoding stops
/// at once, so the rest of the block never reaches the dynamic table: the decoder is out of step with the
/// peer's encoder and the connection must end (GOAWAY), not just the stream.
/// </summary>
internal sealed class HpackHeaderListTooLargeException : Exception
{
    public HpackHeaderListTooLargeException()
    {
    }

    public HpackHeaderListTooLargeException(string message)
        : base(message)
    {
    }

    public HpackHeaderListTooLargeException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
