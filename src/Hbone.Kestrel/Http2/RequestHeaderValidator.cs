using System.Text;
using Hbone.Http2.Hpack;
using Hbone.Protocol;

namespace Hbone.Kestrel.Http2;

/// <summary>
/// Receives the decoded fields of one request header block and applies RFC 9113 §8.2-8.3 as they arrive:
/// the first malformation is remembered (the block is still decoded, keeping HPACK in step) and no field is kept.
/// One instance per connection, reset before each block.
/// </summary>
internal sealed class RequestHeaderValidator : IHpackHeaderHandler
{
    // Reused for every block of the connection; each stream keeps an exact-size copy (an idle tunnel holds no spare slots).
    private readonly List<KeyValuePair<string, string>> _fields = new(4);
    private bool _regularSeen;

    public string? Method { get; private set; }

    public string? Authority { get; private set; }

    public string? Scheme { get; private set; }

    public string? Path { get; private set; }

    /// <summary>The first rule the block broke, or null.</summary>
    public string? Malformed { get; private set; }

    /// <summary>True when the block carried at least one field.</summary>
    public bool AnyField { get; private set; }

    public void Reset()
    {
        ClearFields();
        _regularSeen = false;
        Method = Authority = Scheme = Path = Malformed = null;
        AnyField = false;
    }

    /// <summary>Hands over the regular fields collected (an empty list when there were none).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> TakeFields()
    {
        KeyValuePair<string, string>[] fields = _fields.Count == 0 ? [] : [.. _fields];
        ClearFields();
        return fields;
    }

    /// <summary>Drops what was collected: a 431 keeps no field.</summary>
    public void Discard()
    {
        ClearFields();
        Method = Authority = Scheme = Path = null;
    }

    // A block with many fields (within the header-list limit) does not leave the connection holding a large list.
    private void ClearFields()
    {
        _fields.Clear();
        if (_fields.Capacity > 32)
        {
            _fields.Capacity = 4;
        }
    }

    public void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        AnyField = true;
        if (Malformed is not null)
        {
            return;
        }

        if (name.IsEmpty)
        {
            Malformed = "empty field name";
            return;
        }

        if (value.IndexOfAny((byte)0, (byte)'\r', (byte)'\n') >= 0)
        {
            Malformed = "CR, LF or NUL in a field value";
            return;
        }

        if (name[0] == (byte)':')
        {
            OnPseudo(name, value);
            return;
        }

        _regularSeen = true;
        foreach (var b in name)
        {
            // RFC 9113 §8.2.1: no uppercase, no controls, no separators that break the field.
            if (b is <= 0x20 or >= 0x7f or (>= (byte)'A' and <= (byte)'Z') or (byte)':')
            {
                Malformed = "invalid character in a field name";
                return;
            }
        }

        if (IsConnectionSpecific(name, value))
        {
            Malformed = "connection-specific field";
            return;
        }

        _fields.Add(new(FieldName(name), Encoding.Latin1.GetString(value)));
    }

    // HBONE's own field names come with every CONNECT: the shared constants, not a new string per tunnel.
    private static string FieldName(ReadOnlySpan<byte> name) => name switch
    {
        _ when name.SequenceEqual("forwarded"u8) => HboneHeaders.Forwarded,
        _ when name.SequenceEqual("traceparent"u8) => HboneHeaders.TraceParent,
        _ when name.SequenceEqual("baggage"u8) => HboneHeaders.Baggage,
        _ when name.SequenceEqual("x-forwarded-network"u8) => HboneHeaders.ForwardedNetwork,
        _ => Encoding.Latin1.GetString(name),
    };

    private void OnPseudo(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        if (_regularSeen)
        {
            Malformed = "pseudo-field after a regular field";
            return;
        }

        if (name.SequenceEqual(":method"u8))
        {
            Method = Set(Method, value.SequenceEqual("CONNECT"u8) ? "CONNECT" : Encoding.Latin1.GetString(value));
        }
        else if (name.SequenceEqual(":authority"u8))
        {
            Authority = Set(Authority, Encoding.Latin1.GetString(value));
        }
        else if (name.SequenceEqual(":scheme"u8))
        {
            Scheme = Set(Scheme, Encoding.Latin1.GetString(value));
        }
        else if (name.SequenceEqual(":path"u8))
        {
            Path = Set(Path, Encoding.Latin1.GetString(value));
        }
        else
        {
            Malformed = "unknown or response pseudo-field";
        }
    }

    private string Set(string? current, string value)
    {
        if (current is not null)
        {
            Malformed = "duplicate pseudo-field";
        }

        return value;
    }

    private static bool IsConnectionSpecific(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) =>
        name.SequenceEqual("connection"u8) || name.SequenceEqual("keep-alive"u8) || name.SequenceEqual("proxy-connection"u8)
        || name.SequenceEqual("transfer-encoding"u8) || name.SequenceEqual("upgrade"u8)
        || (name.SequenceEqual("te"u8) && !value.SequenceEqual("trailers"u8));
}
