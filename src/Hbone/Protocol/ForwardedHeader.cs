using System.Net;
using System.Net.Sockets;

namespace Hbone.Protocol;

/// <summary>Parses and formats the RFC 7239 <c>Forwarded</c> header as HBONE uses it.</summary>
/// <remarks>Pass each header value separately: joining multiple values before parsing would let one sender's text shape another's.</remarks>
public static class ForwardedHeader
{
    // Extension parameters an element may carry before it is rejected; bounds the duplicate check.
    private const int MaxExtensionParameters = 16;

    /// <summary>Parses one <c>Forwarded</c> header value into its elements.</summary>
    /// <param name="value">The header value: comma-separated elements of <c>;</c>-separated <c>name=value</c> pairs.</param>
    /// <param name="elements">The elements in order, or an empty list when the value is invalid.</param>
    /// <returns>True when the value is valid and holds at least one non-empty element.</returns>
    public static bool TryParse(ReadOnlySpan<char> value, out IReadOnlyList<ForwardedElement> elements)
    {
        var list = new List<ForwardedElement>(1);
        if (!Parse(value, list, out _))
        {
            elements = [];
            return false;
        }
        elements = list;
        return true;
    }

    /// <summary>Parses one <c>Forwarded</c> header value and returns its first element (the hop closest to the client).</summary>
    /// <param name="value">The header value.</param>
    /// <returns>The first element, or <see langword="null"/> when the value is invalid.</returns>
    public static ForwardedElement? ParseFirst(ReadOnlySpan<char> value) => Parse(value, null, out ForwardedElement? first) ? first : null;

    /// <summary>Formats the value HBONE sends: <c>for="10.0.0.1:1234"</c> or <c>for="[fd00::1]:1234";host=echo.default.svc.cluster.local</c>.</summary>
    /// <param name="client">The client address; port 0 omits the port; an IPv6 scope id is dropped.</param>
    /// <param name="host">The service host name the client addressed, or <see langword="null"/>/empty to omit <c>host</c>.</param>
    /// <returns>The header value.</returns>
    /// <exception cref="ArgumentException"><paramref name="host"/> contains characters a quoted-string cannot carry.</exception>
    public static string Format(IPEndPoint client, string? host = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        IPAddress address = AddressText.WithoutScope(client.Address);
        bool v6 = address.AddressFamily == AddressFamily.InterNetworkV6;
        var text = new System.Runtime.CompilerServices.DefaultInterpolatedStringHandler(0, 0, null, stackalloc char[128]);
        text.AppendLiteral(client.Port == 0 && !v6 ? "for=" : "for=\"");
        if (v6)
        {
            text.AppendLiteral("[");
        }
        text.AppendFormatted(address);
        text.AppendLiteral(v6 ? "]" : string.Empty);
        if (client.Port != 0)
        {
            text.AppendLiteral(":");
            text.AppendFormatted(client.Port);
        }
        text.AppendLiteral(client.Port == 0 && !v6 ? string.Empty : "\"");
        if (!string.IsNullOrEmpty(host))
        {
            text.AppendLiteral(";host=");
            AppendValue(ref text, host);
        }
        return text.ToStringAndClear();
    }

    private static void AppendValue(ref System.Runtime.CompilerServices.DefaultInterpolatedStringHandler text, string value)
    {
        if (HttpSyntax.IsToken(value))
        {
            text.AppendLiteral(value);
            return;
        }
        text.AppendLiteral("\"");
        foreach (char c in value)
        {
            if (!HttpSyntax.IsQuotedPairChar(c))
            {
                throw new ArgumentException("The host contains a character a quoted-string cannot carry.", "host");
            }
            if (c is '"' or '\\')
            {
                text.AppendLiteral("\\");
            }
            text.AppendFormatted(c);
        }
        text.AppendLiteral("\"");
    }

    private static bool Parse(ReadOnlySpan<char> value, List<ForwardedElement>? all, out ForwardedElement? first)
    {
        first = null;
        int pos = 0;
        bool any = false;
        while (true)
        {
            pos = HttpSyntax.SkipOws(value, pos);
            if (pos == value.Length)
            {
                return any;
            }
            if (value[pos] == ',')
            {
                // Empty list elements are allowed by the #rule (RFC 9110 §5.6.1).
                pos++;
                continue;
            }
            bool materialize = all is not null || first is null;
            if (!TryParseElement(value, ref pos, materialize, out ForwardedElement? element, out bool empty))
            {
                first = null;
                return false;
            }
            if (!empty)
            {
                any = true;
                first ??= element;
                if (element is not null)
                {
                    all?.Add(element);
                }
            }
        }
    }

    private static bool TryParseElement(ReadOnlySpan<char> value, ref int pos, bool materialize, out ForwardedElement? element, out bool empty)
    {
        element = null;
        empty = true;
        string? forNode = null, by = null, host = null, proto = null;
        IPEndPoint? forEndPoint = null;
        bool seenFor = false, seenBy = false, seenHost = false, seenProto = false;
        Span<Range> extensions = stackalloc Range[MaxExtensionParameters];
        int extensionCount = 0;
        while (true)
        {
            pos = HttpSyntax.SkipOws(value, pos);
            if (pos == value.Length || value[pos] == ',')
            {
                break;
            }
            if (value[pos] == ';')
            {
                pos++;
                continue;
            }
            int nameStart = pos;
            while (pos < value.Length && HttpSyntax.IsTokenChar(value[pos]))
            {
                pos++;
            }
            ReadOnlySpan<char> name = value[nameStart..pos];
            if (name.IsEmpty || pos == value.Length || value[pos] != '=')
            {
                return false;
            }
            pos++;
            if (!TryReadValue(value, ref pos, out ReadOnlySpan<char> raw, out bool escaped))
            {
                return false;
            }
            pos = HttpSyntax.SkipOws(value, pos);
            if (pos < value.Length && value[pos] is not (',' or ';'))
            {
                return false;
            }
            empty = false;
            // Escapes are rare; only they cost an extra string.
            string? unescaped = escaped ? Unescape(raw) : null;
            ReadOnlySpan<char> text = unescaped ?? raw;
            if (name.Equals("for", StringComparison.OrdinalIgnoreCase))
            {
                if (seenFor || !ForwardedNode.TryParse(text, out IPEndPoint? endPoint))
                {
                    return false;
                }
                seenFor = true;
                if (materialize)
                {
                    forNode = unescaped ?? text.ToString();
                    forEndPoint = endPoint;
                }
            }
            else if (name.Equals("by", StringComparison.OrdinalIgnoreCase))
            {
                if (seenBy || !ForwardedNode.TryParse(text, out _))
                {
                    return false;
                }
                seenBy = true;
                by = materialize ? unescaped ?? text.ToString() : null;
            }
            else if (name.Equals("host", StringComparison.OrdinalIgnoreCase))
            {
                if (seenHost || !IsHost(text))
                {
                    return false;
                }
                seenHost = true;
                host = materialize ? unescaped ?? text.ToString() : null;
            }
            else if (name.Equals("proto", StringComparison.OrdinalIgnoreCase))
            {
                if (seenProto || !IsScheme(text))
                {
                    return false;
                }
                seenProto = true;
                proto = materialize ? text.ToString() : null;
            }
            else
            {
                if (extensionCount == MaxExtensionParameters)
                {
                    return false;
                }
                foreach (Range seen in extensions[..extensionCount])
                {
                    if (value[seen].Equals(name, StringComparison.OrdinalIgnoreCase))
                    {
                        return false;
                    }
                }
                extensions[extensionCount++] = nameStart..(nameStart + name.Length);
            }
        }
        if (!empty && materialize)
        {
            element = new ForwardedElement(forNode, forEndPoint, host, proto, by);
        }
        return true;
    }

    private static bool TryReadValue(ReadOnlySpan<char> value, ref int pos, out ReadOnlySpan<char> raw, out bool escaped)
    {
        raw = default;
        escaped = false;
        if (pos == value.Length || value[pos] != '"')
        {
            int start = pos;
            while (pos < value.Length && HttpSyntax.IsTokenChar(value[pos]))
            {
                pos++;
            }
            raw = value[start..pos];
            return !raw.IsEmpty;
        }
        int open = ++pos;
        while (pos < value.Length)
        {
            char c = value[pos];
            if (c == '"')
            {
                raw = value[open..pos];
                pos++;
                return true;
            }
            if (c == '\\')
            {
                if (pos + 1 == value.Length || !HttpSyntax.IsQuotedPairChar(value[pos + 1]))
                {
                    return false;
                }
                escaped = true;
                pos += 2;
                continue;
            }
            if (!HttpSyntax.IsQuotedText(c))
            {
                return false;
            }
            pos++;
        }
        return false;
    }

    private static string Unescape(ReadOnlySpan<char> raw)
    {
        Span<char> buffer = raw.Length <= 256 ? stackalloc char[raw.Length] : new char[raw.Length];
        int length = 0;
        for (int i = 0; i < raw.Length; i++)
        {
            if (raw[i] == '\\')
            {
                i++;
            }
            buffer[length++] = raw[i];
        }
        return buffer[..length].ToString();
    }

    private static bool IsHost(ReadOnlySpan<char> text)
    {
        // uri-host [":" port] (RFC 7239 §5.3); only visible ASCII, checked loosely because it is telemetry.
        if (text.IsEmpty)
        {
            return false;
        }
        foreach (char c in text)
        {
            if (c <= ' ' || c > '~')
            {
                return false;
            }
        }
        return true;
    }

    private static bool IsScheme(ReadOnlySpan<char> text)
    {
        // URI scheme (RFC 3986 §3.1): ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
        if (text.IsEmpty || !char.IsAsciiLetter(text[0]))
        {
            return false;
        }
        foreach (char c in text)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('+' or '-' or '.'))
            {
                return false;
            }
        }
        return true;
    }
}
