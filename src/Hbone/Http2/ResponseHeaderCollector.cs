using System.Text;
using Hbone.Http2.Hpack;

namespace Hbone.Http2;

/// <summary>Collects one decoded response header block: the status as a number, the rest as strings.</summary>
internal sealed class ResponseHeaderCollector : IHpackHeaderHandler
{
    private readonly List<KeyValuePair<string, string>> _headers = [];

    public int Status { get; private set; }

    public bool HasInvalidPseudoHeader { get; private set; }

    public void Reset()
    {
        Status = 0;
        HasInvalidPseudoHeader = false;
        _headers.Clear();
    }

    public void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        if (name.SequenceEqual(":status"u8))
        {
            Status = value.Length == 3 && IsDigit(value[0]) && IsDigit(value[1]) && IsDigit(value[2])
                ? ((value[0] - '0') * 100) + ((value[1] - '0') * 10) + (value[2] - '0')
                : -1;
            return;
        }

        if (!name.IsEmpty && name[0] == ':')
        {
            HasInvalidPseudoHeader = true;
            return;
        }

        _headers.Add(new(Encoding.Latin1.GetString(name), Encoding.Latin1.GetString(value)));
    }

    /// <summary>A copy of the regular headers for the stream that owns them.</summary>
    public KeyValuePair<string, string>[] ToArray() => _headers.Count == 0 ? [] : [.. _headers];

    private static bool IsDigit(byte b) => b is >= (byte)'0' and <= (byte)'9';
}
