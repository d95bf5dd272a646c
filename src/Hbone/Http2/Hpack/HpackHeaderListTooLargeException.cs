namespace Hbone.Http2.Hpack;

/// <summary>The decoded header list exceeds the limit (name + value + 32 per field, RFC 9113 §6.5.2).</summary>
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
